"""The tables goalbot keeps: tenants, people, org units, goals and their history.

Timestamps are timezone-aware UTC; dates (due, away) are calendar dates.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from storage.vocabulary import Cadence, Category, Role, Status


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def as_utc(instant: datetime | None) -> datetime | None:
    """An instant read back from the database, timezone-aware (SQLite hands back naive UTC datetimes)."""
    if instant is not None and instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant


metadata = SQLModel.metadata
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Tenant(SQLModel, table=True):
    """One organisation: the default one, a Slack workspace or a Teams tenant."""

    __tablename__ = "tenant"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=200)
    # The last G-<n> handed out; bumped with UPDATE ... RETURNING so numbers never repeat.
    last_goal_number: int = Field(default=0)
    # How long after a check-in prompt those who have not answered are reminded; 0: no reminders.
    reminder_minutes: int = Field(default=240, sa_column_kwargs={"server_default": "240"})
    # Words in so many of the tenant's goal titles that they tell no goal from another: the search for
    # look-alikes leaves them out. Counted by the clock's round, once a day (None: not yet).
    common_title_words: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False,
                                                                                server_default="[]"))
    title_words_counted_at: datetime | None = None
    # The key that signs this tenant's links to the goal map: a link made for one tenant opens nothing in another.
    link_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32), max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class OrgUnit(SQLModel, table=True):
    """A company, department or team."""

    __tablename__ = "org_unit"
    __table_args__ = (sa.Index("ix_org_unit_tenant_name", "tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # The person who leads the unit; the FK is added after `person` exists (circular).
    lead_id: int | None = Field(
        default=None,
        sa_column=Column(
            sa.Integer,
            sa.ForeignKey("person.id", use_alter=True, name="fk_org_unit_lead_id_person"),
            nullable=True,
        ),
    )


class Person(SQLModel, table=True):
    """Someone in the organisation, with their manager and check-in settings."""

    __tablename__ = "person"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "email", name="uq_person_tenant_email"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    email: str = Field(max_length=320)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    manager_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    role: str = Field(default=Role.MEMBER, max_length=20)
    org_unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # The person's own check-in schedule, when `checkin_own`; else their unit's or the tenant's default.
    checkin_own: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    checkin_weekday: int = Field(default=0)  # 0 = Monday
    checkin_time: str = Field(default="09:00", max_length=5)
    checkin_cadence: str = Field(default=Cadence.WEEKLY, max_length=20)
    checkins_off: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # The UTC instant of the next prompt; None until the clock has worked it out (new person, changed schedule).
    next_prompt_at: datetime | None = Field(default=None, index=True)
    # Where the person last talked to goalbot; prompts go there.
    last_platform: str | None = Field(default=None, max_length=20)
    # A manager's weekly digest: weekday (0 = Monday) and local time, or off; the UTC instant of the next
    # one (None until the clock has worked it out).
    digest_weekday: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    digest_time: str = Field(default="09:30", max_length=5, sa_column_kwargs={"server_default": "09:30"})
    digests_off: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    next_digest_at: datetime | None = Field(default=None, index=True)
    # Something the manager's current digest shows changed then (None: nothing since it was drawn), and
    # when the digest was last redrawn in place (at most once a minute).
    digest_changed_at: datetime | None = Field(default=None, index=True)
    digest_redrawn_at: datetime | None = None
    # Nudges about their own unaligned or stale goals, sent with their check-in prompt's round.
    nudges_off: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    away_until: date | None = None
    # Map links made for the person before this instant open nothing (`goals map revoke`; erasure).
    map_links_after: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Identity(SQLModel, table=True):
    """A person's account on one chat platform."""

    __tablename__ = "identity"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "platform", "external_id", name="uq_identity_platform_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str = Field(max_length=20)
    external_id: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Goal(SQLModel, table=True):
    """A goal at any level, named in chat by its tenant-wide reference G-<number>."""

    __tablename__ = "goal"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number", name="uq_goal_tenant_number"),
        sa.Index("ix_goal_tenant_owner_person", "tenant_id", "owner_person_id"),
        sa.Index("ix_goal_tenant_owner_unit", "tenant_id", "owner_unit_id"),
        sa.Index("ix_goal_tenant_status", "tenant_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    number: int
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(sa.Text, nullable=False, server_default=""))
    level: str = Field(max_length=20)
    owner_person_id: int | None = Field(default=None, foreign_key="person.id")
    owner_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    parent_id: int | None = Field(default=None, foreign_key="goal.id", index=True)
    category: str = Field(default=Category.BUSINESS, max_length=40)
    start_date: date | None = None
    due_date: date | None = None
    private: bool = Field(default=False)
    status: str = Field(default=Status.PROPOSED, max_length=20)
    # Who must decide a proposed goal: "manager" (bottom-up) or "owner" (cascaded).
    awaiting: str | None = Field(default=None, max_length=20)
    health: str | None = Field(default=None, max_length=20)
    progress: float = Field(default=0.0)
    # The hand-set value, kept apart so removing key results or children restores it.
    manual_progress: float = Field(default=0.0)
    note: str = Field(default="", max_length=1000)
    return_reason: str | None = Field(default=None, max_length=1000)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    approved_by_id: int | None = Field(default=None, foreign_key="person.id")
    approved_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    progress_updated_at: datetime | None = None
    # When its owner was last nudged about it (unaligned or stale): at most once every two weeks.
    nudged_at: datetime | None = None
    # When the goals that look like it were looked for (None: not yet; the clock's round will).
    likeness_checked_at: datetime | None = Field(default=None, index=True)

    @property
    def ref(self) -> str:
        return f"G-{self.number}"


class GoalLikeness(SQLModel, table=True):
    """Two goals of a tenant whose titles look alike: a likely duplicate, kept once (`goal_id` is the older,
    smaller id) with the score of the likeness, 0-100."""

    __tablename__ = "goal_likeness"
    __table_args__ = (sa.Index("ix_goal_likeness_tenant", "tenant_id"),)

    goal_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("goal.id", ondelete="CASCADE"), primary_key=True))
    other_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("goal.id", ondelete="CASCADE"), primary_key=True,
                                           index=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    score: float
    found_at: datetime = Field(default_factory=utcnow)


class KeyResult(SQLModel, table=True):
    """An OKR key result: a metric moving from start to target; named G-<n>.<position>."""

    __tablename__ = "key_result"
    __table_args__ = (sa.UniqueConstraint("goal_id", "position", name="uq_key_result_goal_position"),)

    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(foreign_key="goal.id", index=True)
    position: int
    metric: str = Field(max_length=200)
    start: float
    target: float
    current: float
    unit: str = Field(default="", max_length=40)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def progress(self) -> float:
        """Share of the way from start to target, 0-100, for rising and falling metrics."""
        span = self.target - self.start
        if span == 0:
            return 100.0 if self.current == self.target else 0.0
        return max(0.0, min(100.0, (self.current - self.start) / span * 100.0))


class Milestone(SQLModel, table=True):
    """A dated step on the way to a goal."""

    __tablename__ = "milestone"
    __table_args__ = (sa.UniqueConstraint("goal_id", "position", name="uq_milestone_goal_position"),)

    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(foreign_key="goal.id", index=True)
    position: int
    title: str = Field(max_length=200)
    due_date: date | None = None
    done_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Kudos(SQLModel, table=True):
    """Recognition from one person to another, optionally for a goal."""

    __tablename__ = "kudos"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    giver_id: int = Field(foreign_key="person.id")
    receiver_id: int = Field(foreign_key="person.id", index=True)
    goal_id: int | None = Field(default=None, foreign_key="goal.id")
    message: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class GoalEvent(SQLModel, table=True):
    """One change to a goal: who, when, what, and the fields before and after."""

    __tablename__ = "goal_event"
    __table_args__ = (sa.Index("ix_goal_event_goal_at", "goal_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    goal_id: int = Field(foreign_key="goal.id")
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=40)
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class InboundDelivery(SQLModel, table=True):
    """A platform request already taken in, by its delivery id, so a retry or replay does nothing twice.

    `payload` keeps what the person sent until `done_at` is set; a request whose work was
    cut short (a crash, a restart) is run again from it. The process working on a request
    keeps renewing `lease_until`, so only a request nobody works on any more is run again.
    """

    __tablename__ = "inbound_delivery"
    __table_args__ = (sa.UniqueConstraint("platform", "delivery_key", name="uq_inbound_delivery_platform_key"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    delivery_key: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    payload: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    done_at: datetime | None = None
    attempts: int = Field(default=1)
    lease_until: datetime | None = None


class OutboxMessage(SQLModel, table=True):
    """A message the bot owes someone, kept until the platform has it.

    Written in the same transaction as the change that causes it, so nothing is
    lost on a crash. `dedupe_key` makes enqueueing idempotent; `replaces_id`
    names an earlier message that this one updates in place. A message goes to
    a person's direct message (`person_id`) or to a channel (`to_channel`, the
    platform's id for it), never both.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "dedupe_key", name="uq_outbox_message_tenant_key"),
        sa.Index("ix_outbox_message_due", "platform", "state", "next_attempt_at"),
        sa.Index("ix_outbox_message_tenant_due", "platform", "state", "tenant_id", "id"),
        sa.CheckConstraint("(person_id IS NULL) <> (to_channel IS NULL)", name="one_target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    to_channel: str | None = Field(default=None, max_length=200)
    platform: str = Field(max_length=20)
    kind: str = Field(max_length=40)
    goal_id: int | None = Field(default=None, foreign_key="goal.id", index=True)
    dedupe_key: str = Field(max_length=200)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    replaces_id: int | None = Field(default=None, foreign_key="outbox_message.id")
    state: str = Field(default="pending", max_length=20)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    channel: str | None = Field(default=None, max_length=200)
    message_id: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # A message not delivered by then is dropped (a check-in prompt is worth nothing the next day).
    expires_at: datetime | None = None
    # The worker holding the claim while `sending` (its lease ends at `next_attempt_at`).
    claimed_by: str | None = Field(default=None, max_length=100)


class CheckIn(SQLModel, table=True):
    """A person's answer for one check-in period; answering again edits it."""

    __tablename__ = "check_in"
    __table_args__ = (sa.UniqueConstraint("person_id", "period", name="uq_check_in_person_period"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    period: date  # the local date of the prompt this answer belongs to
    answer: str = Field(default="", sa_column=Column(sa.Text, nullable=False, server_default=""))
    answered_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TeamsConversation(SQLModel, table=True):
    """Where the bot can reach a Teams user at any time: their personal chat's conversation reference.

    Stored when the app is installed or the user writes; `reference` is botbuilder's serialized
    ConversationReference, `person_id` is set once the user is known as a person.
    """

    __tablename__ = "teams_conversation"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id", name="uq_teams_conversation_tenant_user"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    user_id: str = Field(max_length=200)
    aad_object_id: str | None = Field(default=None, max_length=100)
    conversation_id: str = Field(max_length=400)
    reference: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CheckinDefault(SQLModel, table=True):
    """The check-in schedule of everyone in a tenant (`org_unit_id` None) or an org unit, unless they set their own."""

    __tablename__ = "checkin_default"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "org_unit_id", name="uq_checkin_default_tenant_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    org_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    weekday: int
    at: str = Field(max_length=5)
    cadence: str = Field(max_length=20)
    updated_at: datetime = Field(default_factory=utcnow)


class Holiday(SQLModel, table=True):
    """A local calendar date on which nobody in the tenant is asked to check in."""

    __tablename__ = "holiday"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "day", name="uq_holiday_tenant_day"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    name: str = Field(default="", max_length=200)


class CheckinPeriod(SQLModel, table=True):
    """One check-in period of one person: the prompt that opened it (or why there was none), and its answer.

    `period` is the prompt's local date. `state` is `prompted` (a prompt was queued), `skipped`
    (away or a holiday; not counted against response rates), `missed` (the clock was down past the
    prompt's local day) or `dropped` (the prompt could not be delivered within its local day).
    `remind_at` is when to remind, cleared once reminded or answered.
    """

    __tablename__ = "checkin_period"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "period", name="uq_checkin_period_person_period"),
        sa.Index("ix_checkin_period_person_due", "person_id", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    period: date
    due_at: datetime
    state: str = Field(max_length=20)
    reason: str = Field(default="", max_length=200)
    prompt_key: str | None = Field(default=None, max_length=200)
    remind_at: datetime | None = Field(default=None, index=True)
    reminded_at: datetime | None = None
    answered_at: datetime | None = None
    # A reply to the prompt that named no goal, kept while the bot asks which goal it is about.
    pending_answer: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))


class AlignmentSnapshot(SQLModel, table=True):
    """One scope's alignment counts for one period, as they were when taken (a tenant, an org unit, or a
    manager's reports: `scope_kind`, `scope_id` 0 for the tenant). Later periods compare with these."""

    __tablename__ = "alignment_snapshot"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "scope_kind", "scope_id", "period", name="uq_alignment_snapshot_scope_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    scope_kind: str = Field(max_length=20)
    scope_id: int = Field(default=0)
    period: date
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    taken_at: datetime = Field(default_factory=utcnow)


class ChatChannel(SQLModel, table=True):
    """A channel goalbot knows on a chat platform, where summaries can be posted.

    A Teams channel is kept when the app is added to its team (`reference` is botbuilder's
    serialized ConversationReference of the team, which a post to the channel starts from);
    a Slack channel when someone names it in a command. `present` says whether goalbot is in it.
    """

    __tablename__ = "chat_channel"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "platform", "channel_id", name="uq_chat_channel_platform_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    platform: str = Field(max_length=20)
    channel_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    team_id: str | None = Field(default=None, max_length=200)
    team_name: str | None = Field(default=None, max_length=200)
    reference: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    present: bool = Field(default=True)
    updated_at: datetime = Field(default_factory=utcnow)


class ChannelSummary(SQLModel, table=True):
    """A periodic post to a channel about an org unit's public goals (`org_unit_id` None: the company's).

    Its weekday and time are wall-clock in `timezone`, the zone of whoever added it; `next_at` is
    the UTC instant of the next post (None until the clock has worked it out).
    """

    __tablename__ = "channel_summary"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "number", name="uq_channel_summary_tenant_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    number: int  # what admins call it: S-<number>
    platform: str = Field(max_length=20)
    channel_id: str = Field(max_length=200)
    channel_name: str = Field(max_length=200)
    org_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    cadence: str = Field(default=Cadence.WEEKLY, max_length=20)
    weekday: int
    at: str = Field(max_length=5)
    timezone: str = Field(default="UTC", max_length=64)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    next_at: datetime | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Removed summaries are kept, so their numbers are never given to another.
    removed_at: datetime | None = None
