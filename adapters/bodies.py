"""Request bodies at the doors: read whole within a size cap and a deadline, parsed without surprises.

A body that cannot be read or parsed is refused with a 4xx and one warning line,
never a traceback: whatever a stranger sends must not fill the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("goalbot.door")
MAX_BODY = 512 * 1024  # the platforms' largest payloads (a 100-block view, an 80 KB card) are far below this
BODY_TIMEOUT = 20.0  # seconds to receive a whole body once its headers are in
BODY_TIMEOUT_KEY = web.AppKey("body_timeout", float)
MAX_DEPTH = 32  # real payloads nest about 10 deep


class Malformed(ValueError):
    """A body that is not what the platform sends; the text says what was wrong, for the log and the 400."""


async def whole_body(request: web.Request) -> bytes | web.Response:
    """The whole body (not only what has arrived so far), or the response that refuses it."""
    timeout = request.app.get(BODY_TIMEOUT_KEY, BODY_TIMEOUT)
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.Response(status=413, text="too large")
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return web.Response(status=413, text="too large")
    except TimeoutError:
        log.warning("gave up on a request body from %s after %.0f s", request.remote, timeout)
        return web.Response(status=408, text="the body took too long")


def nested_too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON-like data nests deeper than `limit`, found without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def json_object(text: str | bytes, parse: Callable[[Any], Any] = json.loads) -> dict:
    """A JSON object, or Malformed: not JSON, not an object, or nested deeper than real payloads ever are."""
    try:
        value = parse(text)
    except RecursionError:
        raise Malformed(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(value, dict):
        raise Malformed(f"the body is JSON but not an object (it is {_JSON_KINDS.get(type(value), 'a value')})")
    if nested_too_deep(value):
        raise Malformed(f"the body nests deeper than {MAX_DEPTH} levels")
    return value


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def validated(model, body: dict):
    """The body read as a pydantic model of what the platform sends, or Malformed naming the first bad field."""
    from pydantic import ValidationError

    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        raise Malformed(f"`{where[:80]}`: {first['msg'][:80]}") from None


def refuse(status: int, problem: str, request: web.Request, door: str) -> web.Response:
    """One warning line, and a short answer that says what was wrong."""
    log.warning("refused a %s request from %s: %s", door, request.remote, problem)
    return web.json_response({"error": problem}, status=status)
