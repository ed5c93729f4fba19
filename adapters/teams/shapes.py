"""The shape of an activity, checked once its token is verified and before botbuilder reads it.

msrest, under botbuilder, turns a field of the wrong type into something else
or fails somewhere deep inside; a body Teams would never send (no
conversation, a sender that is a list, a type that is a number) is refused
with 400 here instead. Only the fields goalbot and botbuilder read are
described; the rest passes through.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.bodies import validated


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class Account(_Open):
    id: str = Field(min_length=1)
    name: str | None = None
    aad_object_id: str | None = Field(default=None, alias="aadObjectId")
    role: str | None = None


class Conversation(_Open):
    id: str = Field(min_length=1)
    conversation_type: str | None = Field(default=None, alias="conversationType")
    tenant_id: str | None = Field(default=None, alias="tenantId")
    is_group: bool | None = Field(default=None, alias="isGroup")


class Activity(_Open):
    type: str = Field(min_length=1)
    id: str | None = None
    service_url: str = Field(min_length=1, alias="serviceUrl")
    channel_id: str | None = Field(default=None, alias="channelId")
    from_: Account = Field(alias="from")
    conversation: Conversation
    recipient: Account | None = None
    text: str | None = None
    name: str | None = None
    action: str | None = None
    reply_to_id: str | None = Field(default=None, alias="replyToId")
    local_timezone: str | None = Field(default=None, alias="localTimezone")
    entities: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    channel_data: dict[str, Any] | None = Field(default=None, alias="channelData")
    members_added: list[Account] | None = Field(default=None, alias="membersAdded")
    members_removed: list[Account] | None = Field(default=None, alias="membersRemoved")


def check(body: dict) -> None:
    """Raise Malformed when a body is not shaped like an activity Teams sends."""
    validated(Activity, body)
