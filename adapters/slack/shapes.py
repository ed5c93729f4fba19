"""The shape of what Slack sends, checked at the door before Bolt or a listener reads it.

Only the fields Bolt and goalbot's listeners read are described; anything else
passes through untouched. A signed body whose fields have the wrong type (an
`event` that is a string, a `view` that is null, a slash command without a
user) is refused with 400 instead of failing somewhere inside.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from adapters.bodies import Malformed, validated


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Entity(_Open):
    id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None


Named = str | Entity | None


class Authorization(_Open):
    enterprise_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class Event(_Open):
    type: str
    subtype: str | None = None
    user: Named = None  # a user id, or a whole user in user_change
    channel: Named = None
    channel_type: str | None = None
    team: Named = None
    user_team: str | None = None
    bot_id: str | None = None
    tab: str | None = None
    text: str | None = None
    message: dict[str, Any] | None = None
    previous_message: dict[str, Any] | None = None
    tokens: dict[str, list[str]] | None = None


class ViewState(_Open):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class View(_Open):
    id: str | None = None
    type: str | None = None
    callback_id: str | None = None
    private_metadata: str | None = None
    state: ViewState | None = None
    team_id: str | None = None
    app_installed_team_id: str | None = None


class BlockAction(_Open):
    action_id: str
    block_id: str | None = None
    value: str | None = None
    type: str | None = None


class Container(_Open):
    type: str | None = None
    channel_id: str | None = None
    message_ts: str | None = None
    is_ephemeral: bool | None = None


class Envelope(_Open):
    type: str | None = None
    token: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None
    api_app_id: str | None = None
    event: Event | None = None
    event_id: str | None = None
    authorizations: list[Authorization] | None = None
    is_ext_shared_channel: bool | None = None
    is_enterprise_install: bool | str | None = None
    user: Named = None
    team: Named = None
    enterprise: Named = None
    channel: Named = None
    container: Container | None = None
    actions: list[BlockAction] | None = None
    view: View | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    message: dict[str, Any] | None = None
    challenge: str | None = None
    # A slash command's form fields.
    command: str | None = None
    text: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    # A block suggestion (the parent picker).
    action_id: str | None = None
    block_id: str | None = None
    value: str | None = None


def _user_id(envelope: Envelope) -> str | None:
    user = envelope.user
    return user.id if isinstance(user, Entity) else None


# What each kind of request must carry, beyond the right types.
def _required(envelope: Envelope) -> str | None:
    kind = envelope.type
    if envelope.command is not None:
        return None if envelope.user_id and envelope.trigger_id else "a slash command without user_id or trigger_id"
    if kind == "event_callback":
        return None if envelope.event is not None else "an event callback without an event"
    if kind == "url_verification":
        return None if envelope.challenge is not None else "a URL verification without a challenge"
    if kind == "block_actions":
        if _user_id(envelope) and envelope.actions and envelope.trigger_id:
            return None
        return "a block action without a user, actions or trigger_id"
    if kind in ("view_submission", "view_closed"):
        if not _user_id(envelope) or envelope.view is None:
            return f"a {kind} without a user or a view"
        return None if kind == "view_closed" or envelope.view.state is not None else "a view submission without its state"
    if kind == "block_suggestion":
        return None if _user_id(envelope) and envelope.action_id else "a block suggestion without a user or action_id"
    return None


def check(body: dict) -> None:
    """Raise Malformed when a parsed Slack body is not shaped like anything Slack sends."""
    envelope = validated(Envelope, body)
    problem = _required(envelope)
    if problem:
        raise Malformed(problem)
