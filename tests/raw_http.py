"""A raw-socket HTTP/1.1 client, for sending a request the way a real network may deliver it:
in pieces, slowly, or not at all."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


def request_bytes(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[bytes, bytes]:
    """The request's head and body, as they go on the wire."""
    parts = urlsplit(url)
    lines = [f"{method} {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


async def send(url: str, pieces: list[bytes], *, pause: float = 0.0, timeout: float = 10.0) -> tuple[int, bytes]:
    """Write `pieces` with `pause` seconds between them; return the status and the body of the answer
    (status 0 when the server closed the connection without one)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        for index, piece in enumerate(pieces):
            if index and pause:
                await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout)
    except (ConnectionResetError, BrokenPipeError):
        answer = b""
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionResetError, BrokenPipeError):
            pass
    if not answer.startswith(b"HTTP/1.1 "):
        return 0, answer
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


async def held_open(url: str, first: bytes, *, every: float, limit: float) -> float:
    """Trickle a request one byte at a time after `first`; how long until the server hangs up (or `limit`)."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    started = loop.time()
    try:
        writer.write(first)
        await writer.drain()
        while loop.time() - started < limit:
            try:
                data = await asyncio.wait_for(reader.read(1024), every)
            except TimeoutError:
                writer.write(b"X")
                await writer.drain()
                continue
            if not data or data.startswith(b"HTTP/1.1 "):
                break
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    return loop.time() - started


async def trickled(url: str, path: str) -> tuple[int, float]:
    """A JSON body promised as 5,000 bytes and sent one byte every 50 ms: the status it ends with
    (0 when the server just closed) and how many seconds that took."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 5000\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _ = await send(url, [head, *([b"{"] * 40)], pause=0.05, timeout=10)
    return status, loop.time() - started
