"""Goal services: propose, cascade, approve, align, measure and roll progress up the tree.

Each service takes an open session and the verified viewer, checks what the viewer
may do, changes the goal, records the change in the goal's history, and returns
what the view needs. A UserError anywhere rolls the whole command back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import hints, similar, values
from bot.access import LEVEL_RANK, get_goal, require_change, responsible_person
from bot.commands import GoalDraft
from bot.errors import Forbidden, UserError
from bot.people import Viewer, company_unit, find_person
from storage import repository
from storage.models import Goal, GoalEvent, KeyResult, Kudos, Milestone, OrgUnit, Person, utcnow
from storage.vocabulary import Awaiting, Health, Level, Role, Status

# Children whose progress counts toward their parent's.
COUNTED = (Status.ACTIVE, Status.ACHIEVED, Status.MISSED)
OPEN = (Status.PROPOSED, Status.ACTIVE)
TRACKED = (
    "title", "level", "owner_person_id", "owner_unit_id", "parent_id", "start_date", "due_date", "private",
    "category", "description", "status", "awaiting", "health", "progress", "note", "return_reason",
)
EDITABLE = (Status.PROPOSED, Status.ACTIVE, Status.RETURNED)


def snapshot(goal: Goal) -> dict[str, Any]:
    """The goal's tracked fields as JSON-ready values, to compare before and after a change."""
    values = {}
    for name in TRACKED:
        value = getattr(goal, name)
        values[name] = value.isoformat() if isinstance(value, date) else value
    return values


TOUCHED = "goalbot.digest.touched"  # in a session's info: the people whose goals or check-ins it changed


def record(session: AsyncSession, goal: Goal, actor_id: int | None, action: str, before: dict[str, Any] | None = None,
           *, part: dict[str, Any] | None = None, part_before: dict[str, Any] | None = None,
           at: datetime | None = None) -> None:
    """Keep a change in the goal's history, the only way it is written.

    `before` is the goal's `snapshot` before the change: the fields that moved are kept. A
    change to a part of the goal (a key result, a milestone) names the part in `part` (its
    fields after the change) and, when it existed before, `part_before`.
    """
    after = snapshot(goal)
    changed = [key for key in TRACKED if before is not None and before.get(key) != after.get(key)]
    goal.updated_at = at or utcnow()
    # The digests of the people above its owner show it.
    session.info.setdefault(TOUCHED, set()).add(goal.owner_person_id or actor_id)
    session.add(
        GoalEvent(
            tenant_id=goal.tenant_id,
            goal_id=goal.id,
            actor_id=actor_id,
            action=action,
            before={**{key: before.get(key) for key in changed}, **(part_before or {})} if before is not None
            else dict(part_before or {}),
            after={**{key: after[key] for key in changed}, **(part or {})},
        )
    )


@dataclass
class Proposal:
    goal: Goal
    hint: str | None
    decider: Person | None  # who must decide, when the goal is not active yet

    @property
    def awaiting_name(self) -> str | None:
        return self.decider.name if self.decider is not None else None


@dataclass
class Decision:
    goal: Goal
    outcome: str  # "approved", "accepted", "returned"


@dataclass
class Linked:
    goal: Goal
    parent: Goal | None
    previous: Goal | None


# Creating goals -----------------------------------------------------------------


async def _unit_of_kind(session: AsyncSession, unit_id: int | None, kind: str) -> OrgUnit | None:
    """The person's unit of `kind`: their own, or the nearest one above it."""
    seen = set()
    while unit_id is not None and unit_id not in seen:
        seen.add(unit_id)
        unit = await session.get(OrgUnit, unit_id)
        if unit is None:
            return None
        if unit.kind == kind:
            return unit
        unit_id = unit.parent_id
    return None


async def _check_parent(session: AsyncSession, viewer: Viewer, child_level: str, number: int) -> Goal:
    parent = await get_goal(session, viewer, number)
    if parent.status in (Status.ARCHIVED, Status.RETURNED):
        raise UserError(f"{parent.ref} is {parent.status}; link to an active goal instead.")
    if LEVEL_RANK[parent.level] > LEVEL_RANK[child_level]:
        raise UserError(
            f"A {child_level} goal can only support a goal at its own level or higher; "
            f"{parent.ref} is {'an' if parent.level[0] in 'aeiou' else 'a'} {parent.level} goal."
        )
    return parent


async def _owner_for(
    session: AsyncSession, viewer: Viewer, level: str, person: Person
) -> tuple[int | None, int | None]:
    """(owner person, owner unit) for a new goal at `level` on behalf of `person`."""
    if level == Level.INDIVIDUAL:
        return person.id, None
    if level == Level.COMPANY:
        if not viewer.is_admin:
            raise Forbidden("Only admins can set company goals.")
        unit = await company_unit(session, viewer.tenant, create=True)
        return None, unit.id
    unit = await _unit_of_kind(session, person.org_unit_id, level)
    if unit is None:
        raise UserError(f"{person.name} is not in a {level}, so there is no {level} to own this goal.")
    if not viewer.is_admin:
        lead = unit.lead_id
        if lead != viewer.id and (lead is None or not await viewer.manages(session, lead)):
            raise Forbidden(f"Only the lead of {unit.name}, their managers and admins can set its goals.")
    return None, unit.id


async def _new_goal(
    session: AsyncSession, viewer: Viewer, draft: GoalDraft, owner: Person, parent: Goal | None, level: str
) -> Goal:
    """The goal a draft describes, numbered but not yet written: its status is set, then `_write`."""
    owner_person_id, owner_unit_id = await _owner_for(session, viewer, level, owner)
    return Goal(
        tenant_id=viewer.tenant.id,
        number=await repository.next_goal_number(session, viewer.tenant.id),
        title=draft.title,
        description=draft.description,
        level=level,
        owner_person_id=owner_person_id,
        owner_unit_id=owner_unit_id,
        parent_id=parent.id if parent else None,
        category=draft.category or "business",
        start_date=draft.start or date.today(),
        due_date=draft.due,
        private=draft.private,
        created_by_id=viewer.id,
        likeness_checked_at=utcnow(),  # its look-alikes were looked for just before it took its number
    )


async def _write(session: AsyncSession, goal: Goal, actor_id: int, action: str, before: dict[str, Any]) -> None:
    """Write a new goal whole, in one insert, and its first line of history."""
    goal.created_at = goal.updated_at = utcnow()
    session.add(goal)
    await session.flush()
    record(session, goal, actor_id, action, before, at=goal.updated_at)


HINTED = 3  # look-alikes named in a new goal's hint


async def _look_alikes(session: AsyncSession, viewer: Viewer, title: str, parent: Goal | None) -> list[similar.LookAlike]:
    """Goals elsewhere that look like a new one, its own parent chain aside, whoever may see them (the
    hint names only those the viewer may). Looked for before the new goal takes its number: the number
    holds the tenant's row until the transaction ends, so that stays short."""
    exclude = {parent.id, *(a.id for a in await repository.goal_ancestors(session, parent.id))} if parent else set()
    return await similar.look_alikes(session, viewer.tenant, title, viewer=viewer, hidden_too=True,
                                     exclude=exclude, limit=similar.KEPT)


async def _hint(session: AsyncSession, goal: Goal, look_alikes: list[similar.LookAlike]) -> str | None:
    """Keep the new goal's look-alikes as likely duplicates; the hint line it is shown."""
    await similar.keep(session, goal, look_alikes)
    seen = [match for match in look_alikes if match.visible][:HINTED]
    return hints.hint_line(hints.smart_gaps(goal, has_key_results=False), seen)


async def create(session: AsyncSession, viewer: Viewer, draft: GoalDraft) -> Proposal:
    """A new goal from `goals add` or `goals assign`: cascaded to its owner when that is someone else,
    else proposed by the viewer. A new goal is never due in the past (where the viewer is)."""
    if draft.due is not None and draft.due < values.today(viewer.person.timezone):
        raise UserError(f"The due date {draft.due} has passed; a new goal is due today or later.")
    owner = await find_person(session, viewer, draft.owner) if draft.owner is not None else viewer.person
    if owner.id != viewer.id:
        return await assign(session, viewer, draft, owner)
    return await propose(session, viewer, draft)


async def propose(session: AsyncSession, viewer: Viewer, draft: GoalDraft) -> Proposal:
    """Bottom-up: a goal the viewer proposes for themselves, active at once when nobody is above them."""
    level = draft.level or "individual"
    parent = await _check_parent(session, viewer, level, draft.parent) if draft.parent else None
    duplicates = await _look_alikes(session, viewer, draft.title, parent)
    goal = await _new_goal(session, viewer, draft, viewer.person, parent, level)
    before = snapshot(goal)
    manager = await session.get(Person, viewer.person.manager_id) if viewer.person.manager_id else None
    if viewer.is_admin or manager is None:
        goal.status = Status.ACTIVE
        goal.approved_by_id = viewer.id
        goal.approved_at = utcnow()
        manager = None
    else:
        goal.status = Status.PROPOSED
        goal.awaiting = Awaiting.MANAGER
    await _write(session, goal, viewer.id, "proposed" if goal.status == Status.PROPOSED else "created", before)
    if goal.status == Status.ACTIVE and parent is not None:
        await rollup(session, parent.id, viewer.id)
    return Proposal(goal=goal, hint=await _hint(session, goal, duplicates), decider=manager)


async def assign(session: AsyncSession, viewer: Viewer, draft: GoalDraft, owner: Person) -> Proposal:
    """Top-down: a manager cascades a goal to someone below them, who accepts or declines it."""
    if not viewer.is_admin and not await viewer.manages(session, owner.id):
        raise Forbidden(f"Only {owner.name}'s managers and admins can assign goals to them.")
    level = draft.level or "individual"
    parent = await _check_parent(session, viewer, level, draft.parent) if draft.parent else None
    duplicates = await _look_alikes(session, viewer, draft.title, parent)
    goal = await _new_goal(session, viewer, draft, owner, parent, level)
    before = snapshot(goal)
    goal.status = Status.PROPOSED
    goal.awaiting = Awaiting.OWNER
    goal.approved_by_id = viewer.id
    goal.approved_at = utcnow()
    await _write(session, goal, viewer.id, "assigned", before)
    line = await _hint(session, goal, duplicates)
    responsible = await responsible_person(session, goal)
    return Proposal(goal=goal, hint=line, decider=await session.get(Person, responsible) if responsible else owner)


# Deciding on proposed goals ---------------------------------------------------


async def _require_decider(session: AsyncSession, viewer: Viewer, goal: Goal, doing: str) -> str:
    if goal.status != Status.PROPOSED:
        raise UserError(f"{goal.ref} is {goal.status}, not waiting for a decision.")
    owner = await responsible_person(session, goal)
    if goal.awaiting == Awaiting.OWNER:
        if owner == viewer.id:
            return "accepted" if doing == "approve" else "returned"
        name = (await session.get(Person, owner)).name if owner else "its owner"
        raise Forbidden(f"{goal.ref} was assigned to {name}; only they can {'accept' if doing == 'approve' else 'decline'} it.")
    if owner == viewer.id and not viewer.is_admin:
        raise Forbidden(f"You proposed {goal.ref}; your manager or an admin must {doing} it.")
    if viewer.is_admin or (owner is not None and await viewer.manages(session, owner)):
        return "approved" if doing == "approve" else "returned"
    raise Forbidden(f"Only the managers of {goal.ref}'s owner and admins can {doing} it.")


async def approve(session: AsyncSession, viewer: Viewer, number: int) -> Decision:
    """The decider approves a proposed goal (or its owner accepts an assigned one): it becomes active and rolls up."""
    goal = await get_goal(session, viewer, number)
    outcome = await _require_decider(session, viewer, goal, "approve")
    before = snapshot(goal)
    goal.status = Status.ACTIVE
    goal.awaiting = None
    goal.return_reason = None
    if outcome == "approved":
        goal.approved_by_id = viewer.id
        goal.approved_at = utcnow()
    record(session, goal, viewer.id, outcome, before)
    if goal.parent_id is not None:
        await rollup(session, goal.parent_id, viewer.id)
    return Decision(goal, outcome)


async def return_goal(session: AsyncSession, viewer: Viewer, number: int, reason: str) -> Decision:
    """The decider sends a proposed goal back with a reason; its owner may change it and propose again."""
    goal = await get_goal(session, viewer, number)
    await _require_decider(session, viewer, goal, "return")
    before = snapshot(goal)
    goal.status = Status.RETURNED
    goal.awaiting = None
    goal.return_reason = reason
    record(session, goal, viewer.id, "returned", before)
    return Decision(goal, "returned")


# Editing ----------------------------------------------------------------------------


@dataclass
class Edited:
    goal: Goal
    before: dict[str, Any]  # its snapshot before
    changed: list[str]  # the fields that changed, as TRACKED names


async def edit(session: AsyncSession, viewer: Viewer, number: int, changes: dict[str, Any]) -> Edited:
    """Change what a goal says about itself, all of it or none: title, dates, category, description, level
    (which moves it to its owner's unit of that level, never down: a lower goal is cascaded with goals
    assign) and privacy (never hiding it from those whose goals support it)."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "edit")
    if goal.status not in EDITABLE:
        raise UserError(f"{goal.ref} is {goal.status}; bring it back first with goals reopen {goal.ref}.")
    before = snapshot(goal)
    start = changes.get("start", goal.start_date)
    due = changes["due"] if "due" in changes else goal.due_date
    if due is not None and start is not None and due < start:
        raise UserError(f"The due date {due} would be before the start date {start}; change both together.")
    if "level" in changes and changes["level"] != goal.level:
        await _change_level(session, viewer, goal, changes["level"])
    if changes.get("private") and not goal.private:
        await _check_still_seen(session, goal)
    for name, field in (("title", "title"), ("description", "description"), ("category", "category"),
                        ("private", "private")):
        if name in changes:
            setattr(goal, field, changes[name])
    goal.start_date, goal.due_date = start, due
    changed = [key for key, value in snapshot(goal).items() if before[key] != value]
    if not changed:
        raise UserError(f"{goal.ref} says that already; nothing changed.")
    record(session, goal, viewer.id, "edited", before)
    return Edited(goal, before, changed)


async def _change_level(session: AsyncSession, viewer: Viewer, goal: Goal, level: str) -> None:
    """Move the goal up to `level`: owned by its owner's unit of that kind (authorized as a new goal at that
    level would be), still supporting a goal at its level or higher, still supported by lower ones."""
    if LEVEL_RANK[level] > LEVEL_RANK[goal.level]:
        raise UserError(
            f"{goal.ref} is {_a(goal.level)} goal; a goal goes down a level by being cascaded: "
            f"goals assign <title> owner:@name parent:{goal.ref}.")
    if goal.parent_id is not None:
        parent = await session.get(Goal, goal.parent_id)
        if parent is not None and LEVEL_RANK[parent.level] > LEVEL_RANK[level]:
            raise UserError(f"{goal.ref} supports {parent.ref}, {_a(parent.level)} goal; {_a(level)} goal can only "
                            f"support a goal at its own level or higher. Unlink it or link it higher first.")
    if goal.owner_person_id is not None:
        owner = await session.get(Person, goal.owner_person_id)
    else:
        unit = await session.get(OrgUnit, goal.owner_unit_id) if goal.owner_unit_id else None
        owner = await session.get(Person, unit.lead_id) if unit is not None and unit.lead_id else None
        if owner is None:
            raise UserError(f"{goal.ref}'s unit has no lead to find the {level} above it from.")
    goal.owner_person_id, goal.owner_unit_id = await _owner_for(session, viewer, level, owner)
    goal.level = level


async def _check_still_seen(session: AsyncSession, goal: Goal) -> None:
    """Refuse to make a goal private while goals of people who could then not see it support it."""
    children = (await session.execute(select(Goal).where(
        Goal.parent_id == goal.id, Goal.status.in_((*OPEN, Status.ACHIEVED))))).scalars().all()
    owner = await responsible_person(session, goal) or goal.created_by_id
    allowed = {owner, *(await repository.manager_ids(session, owner) if owner else [])}
    unseeing = []
    for child in children:
        person_id = await responsible_person(session, child) or child.created_by_id
        person = await session.get(Person, person_id) if person_id else None
        if person is not None and person.id not in allowed and person.role != Role.ADMIN:
            unseeing.append(f"{child.ref} ({person.name})")
    if unseeing:
        raise UserError(f"{goal.ref} stays public: {', '.join(unseeing)} support{'s' if len(unseeing) == 1 else ''} it, "
                        f"and {'its owner' if len(unseeing) == 1 else 'their owners'} could no longer see it.")


def _a(level: str) -> str:
    return f"{'an' if level[0] in 'aeiou' else 'a'} {level}"


# Alignment ------------------------------------------------------------------------


async def link(session: AsyncSession, viewer: Viewer, number: int, parent_number: int) -> Linked:
    """Make a goal support a parent: same tenant, parent level not lower, never a loop."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "link")
    if goal.status in (Status.ARCHIVED):
        raise UserError(f"{goal.ref} is archived.")
    parent = await _check_parent(session, viewer, goal.level, parent_number)
    if goal.parent_id == parent.id:
        raise UserError(f"{goal.ref} already supports {parent.ref}.")
    chain = [parent, *await repository.goal_ancestors(session, parent.id)]
    if any(g.id == goal.id for g in chain):
        path = []
        for g in chain:
            path.append(g.ref)
            if g.id == goal.id:
                break
        loop = " → ".join([goal.ref, *path])
        raise UserError(f"That would make a loop: {loop} (→ means supports). {goal.ref} stays where it is.")
    previous = await session.get(Goal, goal.parent_id) if goal.parent_id else None
    before = snapshot(goal)
    goal.parent_id = parent.id
    record(session, goal, viewer.id, "linked", before)
    await session.flush()
    if previous is not None:
        await rollup(session, previous.id, viewer.id)
    await rollup(session, parent.id, viewer.id)
    return Linked(goal, parent, previous)


async def unlink(session: AsyncSession, viewer: Viewer, number: int) -> Linked:
    """The goal no longer supports a parent; the former parent rolls up again."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "unlink")
    if goal.parent_id is None:
        raise UserError(f"{goal.ref} does not support any goal yet.")
    previous = await session.get(Goal, goal.parent_id)
    before = snapshot(goal)
    goal.parent_id = None
    record(session, goal, viewer.id, "unlinked", before)
    await session.flush()
    await rollup(session, previous.id, viewer.id)
    return Linked(goal, None, previous)


# Progress -------------------------------------------------------------------------


async def _computed_progress(session: AsyncSession, goal: Goal) -> tuple[float, str]:
    """(progress, source): from key results, else from supporting goals, else by hand."""
    key_results = (await session.execute(select(KeyResult).where(KeyResult.goal_id == goal.id))).scalars().all()
    if key_results:
        return sum(kr.progress for kr in key_results) / len(key_results), "key results"
    average, count = (
        await session.execute(
            select(sa.func.avg(Goal.progress), sa.func.count()).where(
                Goal.parent_id == goal.id, Goal.status.in_(COUNTED)
            )
        )
    ).one()
    if count:
        return float(average), "supporting goals"
    return goal.manual_progress, "hand"


async def rollup(session: AsyncSession, goal_id: int, actor_id: int | None) -> None:
    """Recompute a goal's progress and carry the change up through every ancestor."""
    await session.flush()
    for goal in await repository.lock_chain(session, goal_id):
        value, _source = await _computed_progress(session, goal)
        value = round(value, 2)
        if abs(value - goal.progress) < 0.005:
            break  # nothing above can change either
        before = snapshot(goal)
        goal.progress = value
        record(session, goal, actor_id, "rollup", before)
        await session.flush()


async def progress(
    session: AsyncSession, viewer: Viewer, number: int, percent: float | None, health: str | None, note: str
) -> Goal:
    """Set progress by hand (when it has no key results or supporting goals), health and a note."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "update")
    if goal.status not in OPEN:
        raise UserError(f"{goal.ref} is {goal.status}; only proposed and active goals take updates.")
    await repository.lock_goals(session, [goal.id])
    await session.refresh(goal)
    before = snapshot(goal)
    if percent is not None:
        _value, source = await _computed_progress(session, goal)
        if source == "key results":
            positions = (await session.execute(
                select(KeyResult.position).where(KeyResult.goal_id == goal.id).order_by(KeyResult.position))).scalars().all()
            refs = ", ".join(f"{goal.ref}.{position}" for position in positions)
            raise UserError(
                f"{goal.ref}'s progress comes from its key results ({refs}); give their values instead, like "
                f"{goal.ref}.{positions[0]} 28 (goals kr {goal.ref}.{positions[0]} 28), and a health or note on {goal.ref}."
            )
        if source == "supporting goals":
            raise UserError(
                f"{goal.ref}'s progress is rolled up from the goals that support it; "
                f"you can still set its health and a note: goals progress {goal.ref} at-risk <note>."
            )
        goal.manual_progress = percent
        goal.progress = round(percent, 2)
    if health is not None:
        goal.health = health
    if note:
        goal.note = note
    goal.progress_updated_at = utcnow()
    record(session, goal, viewer.id, "progress", before)
    if goal.parent_id is not None and goal.status in COUNTED:
        await rollup(session, goal.parent_id, viewer.id)
    return goal


async def _open_goal_for_key_results(session: AsyncSession, viewer: Viewer, number: int) -> Goal:
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "change the key results of")
    if goal.status not in OPEN:
        raise UserError(f"{goal.ref} is {goal.status}; only proposed and active goals take key results.")
    return goal


async def _after_key_result_change(session: AsyncSession, goal: Goal, actor_id: int) -> None:
    goal.progress_updated_at = utcnow()
    await rollup(session, goal.id, actor_id)


async def add_key_result(
    session: AsyncSession, viewer: Viewer, number: int, metric: str, start: float, target: float, unit: str
) -> tuple[Goal, KeyResult]:
    """A key result on an open goal: a metric moving from `start` to `target`, named G-<n>.<position>."""
    goal = await _open_goal_for_key_results(session, viewer, number)
    await repository.lock_goals(session, [goal.id])
    position = (
        await session.execute(select(sa.func.coalesce(sa.func.max(KeyResult.position), 0)).where(KeyResult.goal_id == goal.id))
    ).scalar_one() + 1
    await _refuse_same_metric(session, goal, metric)
    key_result = KeyResult(goal_id=goal.id, position=position, metric=metric, start=start, target=target, current=start, unit=unit)
    session.add(key_result)
    record(session, goal, viewer.id, "key result added",
           part={"key_result": position, "metric": metric, "start": start, "target": target, "unit": unit})
    await _after_key_result_change(session, goal, viewer.id)
    return goal, key_result


def _same_metric(one: str, other: str) -> bool:
    return " ".join(one.lower().split()) == " ".join(other.lower().split())


async def _refuse_same_metric(session: AsyncSession, goal: Goal, metric: str, but: int | None = None) -> None:
    for kr in (await session.execute(select(KeyResult).where(KeyResult.goal_id == goal.id))).scalars():
        if kr.position != but and _same_metric(kr.metric, metric):
            raise UserError(f"{goal.ref} measures {kr.metric} already: {goal.ref}.{kr.position}. "
                            f"Change that one instead: goals kr edit {goal.ref}.{kr.position} ...")


async def _key_result(session: AsyncSession, goal: Goal, position: int) -> KeyResult:
    key_result = (
        await session.execute(select(KeyResult).where(KeyResult.goal_id == goal.id, KeyResult.position == position))
    ).scalar_one_or_none()
    if key_result is None:
        raise UserError(f"{goal.ref} has no key result {goal.ref}.{position}.")
    return key_result


def _n(value: float) -> str:
    return f"{value:g}"


def of_the_way(kr: KeyResult, percent: float) -> float:
    """The value `percent` of the way from a key result's start to its target."""
    return round(kr.start + (kr.target - kr.start) * percent / 100, 6)


async def update_key_result(
    session: AsyncSession, viewer: Viewer, number: int, position: int, current: float, share: bool = False
) -> tuple[Goal, KeyResult]:
    """A key result's current value (with `share`, `current` % of the way from its start to its target);
    the goal's progress and its parents' follow."""
    goal = await _open_goal_for_key_results(session, viewer, number)
    await repository.lock_goals(session, [goal.id])
    key_result = await _key_result(session, goal, position)
    if share:
        value = of_the_way(key_result, current)
        if key_result.unit.strip() == "%":
            ref = f"{goal.ref}.{position}"
            raise UserError(f"{ref} is measured in % itself: is it at {_n(current)} % (goals kr {ref} "
                            f"{_n(current)}), or {_n(current)}% of the way from "
                            f"{_n(key_result.start)} to {_n(key_result.target)}, which is "
                            f"{_n(value)} % (goals kr {ref} {_n(value)})?")
        current = value
    record(session, goal, viewer.id, "key result updated", part={"key_result": position, "current": current},
           part_before={"key_result": position, "current": key_result.current})
    key_result.current = current
    key_result.updated_at = utcnow()
    await _after_key_result_change(session, goal, viewer.id)
    return goal, key_result


async def edit_key_result(session: AsyncSession, viewer: Viewer, number: int, position: int, metric: str | None,
                          start: float | None, target: float | None, unit: str | None) -> tuple[Goal, KeyResult]:
    """Change what a key result measures, its start and target, or its unit; its current value stays."""
    goal = await _open_goal_for_key_results(session, viewer, number)
    await repository.lock_goals(session, [goal.id])
    key_result = await _key_result(session, goal, position)
    if metric is not None:
        await _refuse_same_metric(session, goal, metric, but=position)
    fields = {"metric": metric, "start": start, "target": target, "unit": unit}
    before = {name: getattr(key_result, name) for name, value in fields.items() if value is not None}
    after = {name: value for name, value in fields.items() if value is not None}
    if before == after:
        raise UserError(f"{goal.ref}.{position} says that already; nothing changed.")
    for name, value in after.items():
        setattr(key_result, name, value)
    key_result.updated_at = utcnow()
    record(session, goal, viewer.id, "key result changed", part={"key_result": position, **after},
           part_before={"key_result": position, **before})
    await _after_key_result_change(session, goal, viewer.id)
    return goal, key_result


async def remove_key_result(session: AsyncSession, viewer: Viewer, number: int, position: int) -> Goal:
    """A key result goes; the goal's progress comes from the others (or from its supporters, or by hand)."""
    goal = await _open_goal_for_key_results(session, viewer, number)
    await repository.lock_goals(session, [goal.id])
    key_result = await _key_result(session, goal, position)
    record(session, goal, viewer.id, "key result removed", part={"key_result": position},
           part_before={"key_result": position, "metric": key_result.metric, "start": key_result.start,
                        "target": key_result.target, "current": key_result.current, "unit": key_result.unit})
    others = (await session.execute(select(sa.func.count()).select_from(KeyResult).where(
        KeyResult.goal_id == goal.id, KeyResult.id != key_result.id))).scalar_one()
    if not others:
        goal.manual_progress = goal.progress  # the last one: its progress stays, set by hand from now on
    await session.delete(key_result)
    await _after_key_result_change(session, goal, viewer.id)
    return goal


async def change_milestone(session: AsyncSession, viewer: Viewer, number: int, position: int, done: bool) -> tuple[Goal, Milestone]:
    """A milestone is ticked off (`done`) or removed."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "change the milestones of")
    milestone = (await session.execute(select(Milestone).where(
        Milestone.goal_id == goal.id, Milestone.position == position))).scalar_one_or_none()
    if milestone is None:
        raise UserError(f"{goal.ref} has no milestone {position}.")
    if done:
        if milestone.done_at is not None:
            raise UserError(f"Milestone {position} of {goal.ref} is done already.")
        milestone.done_at = utcnow()
        record(session, goal, viewer.id, "milestone done", part={"milestone": position, "done": True},
               part_before={"milestone": position, "done": False})
    else:
        record(session, goal, viewer.id, "milestone removed", part={"milestone": position},
               part_before={"milestone": position, "title": milestone.title,
                            "due_date": milestone.due_date.isoformat() if milestone.due_date else None})
        await session.delete(milestone)
    return goal, milestone


async def add_milestone(session: AsyncSession, viewer: Viewer, number: int, title: str, due: date | None) -> tuple[Goal, Milestone]:
    """A dated step on an open goal, due no later than the goal itself."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "add milestones to")
    if goal.status not in OPEN:
        raise UserError(f"{goal.ref} is {goal.status}; only proposed and active goals take milestones.")
    if due and goal.due_date and due > goal.due_date:
        raise UserError(f"The milestone is due {due}, after {goal.ref} itself ({goal.due_date}).")
    await repository.lock_goals(session, [goal.id])
    position = (
        await session.execute(select(sa.func.coalesce(sa.func.max(Milestone.position), 0)).where(Milestone.goal_id == goal.id))
    ).scalar_one() + 1
    milestone = Milestone(goal_id=goal.id, position=position, title=title, due_date=due)
    session.add(milestone)
    record(session, goal, viewer.id, "milestone added",
           part={"milestone": position, "title": title, "due_date": due.isoformat() if due else None})
    return goal, milestone


async def complete(session: AsyncSession, viewer: Viewer, number: int, anyway: bool = False) -> Goal:
    """The goal is achieved: 100 %, and its parents roll up. With key results short of their targets,
    only when the viewer says so (`anyway`)."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "complete")
    if goal.status != Status.ACTIVE:
        raise UserError(f"{goal.ref} is {goal.status}; only active goals can be marked done.")
    short = [kr for kr in (await session.execute(select(KeyResult).where(KeyResult.goal_id == goal.id)
                                                 .order_by(KeyResult.position))).scalars() if kr.progress < 100]
    if short and not anyway:
        named = ", ".join(f"{goal.ref}.{kr.position} {kr.metric} at {round(kr.progress)}%" for kr in short)
        raise UserError(f"{goal.ref}'s key results are short of their targets ({named}). "
                        f"Mark it achieved all the same: goals done {goal.ref} anyway")
    before = snapshot(goal)
    goal.status = Status.ACHIEVED
    goal.progress = 100.0
    goal.manual_progress = 100.0
    goal.health = Health.ON_TRACK
    record(session, goal, viewer.id, "achieved", before)
    if goal.parent_id is not None:
        await rollup(session, goal.parent_id, viewer.id)
    return goal


CLOSED = (Status.ACHIEVED, Status.MISSED, Status.ARCHIVED)


async def _last_event(session: AsyncSession, goal: Goal, actions: tuple[str, ...]) -> GoalEvent | None:
    return (await session.execute(select(GoalEvent).where(GoalEvent.goal_id == goal.id, GoalEvent.action.in_(actions))
                                  .order_by(GoalEvent.id.desc()).limit(1))).scalar_one_or_none()


async def reopen(session: AsyncSession, viewer: Viewer, number: int) -> Goal:
    """An achieved, missed or archived goal is open again, as it was before it was closed (a proposal
    waits for its decision again; progress and health are what they were)."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "reopen")
    if goal.status not in CLOSED:
        raise UserError(f"{goal.ref} is {goal.status}; only achieved, missed or archived goals are reopened.")
    closing = await _last_event(session, goal, ("achieved", "missed", "archived"))
    was = closing.before if closing is not None else {}
    before = snapshot(goal)
    goal.status = was.get("status", Status.ACTIVE) if was.get("status") not in (None, *CLOSED) else Status.ACTIVE
    goal.awaiting = was.get("awaiting") if goal.status == Status.PROPOSED else None
    if "progress" in was:
        goal.progress = goal.manual_progress = was["progress"]
    if "health" in was:
        goal.health = was["health"]
    record(session, goal, viewer.id, "reopened", before)
    if goal.parent_id is not None:
        await rollup(session, goal.parent_id, viewer.id)
    if goal.status == Status.ACTIVE:
        await rollup(session, goal.id, viewer.id)  # key results or supporting goals decide its progress again
    return goal


@dataclass
class Resubmitted:
    goal: Goal
    decider: Person | None
    reason: str  # why it was returned
    changes: list[tuple[str, Any, Any]]  # (field, before, after) since it was returned
    note: str


async def resubmit(session: AsyncSession, viewer: Viewer, number: int, note: str) -> Resubmitted:
    """A returned goal, changed, goes to whoever returned it (its owner's manager, or the person it was
    assigned to) again, with what changed since."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "resubmit")
    if goal.status != Status.RETURNED:
        raise UserError(f"{goal.ref} is {goal.status}; only a returned goal is sent again.")
    returned = await _last_event(session, goal, ("returned",))
    awaiting = (returned.before.get("awaiting") if returned is not None else None) or Awaiting.MANAGER
    since = (await session.execute(select(GoalEvent).where(
        GoalEvent.goal_id == goal.id, GoalEvent.id > (returned.id if returned else 0), GoalEvent.action == "edited")
        .order_by(GoalEvent.id))).scalars().all()
    first: dict[str, Any] = {}
    for event in since:
        for field, value in event.before.items():
            first.setdefault(field, value)
    now = snapshot(goal)
    changes = [(field, value, now.get(field)) for field, value in first.items() if now.get(field) != value]
    before = snapshot(goal)
    goal.status = Status.PROPOSED
    goal.awaiting = awaiting
    record(session, goal, viewer.id, "resubmitted", before)
    if awaiting == Awaiting.OWNER:
        decider_id = await responsible_person(session, goal)
    else:
        owner = await session.get(Person, await responsible_person(session, goal) or viewer.id)
        decider_id = owner.manager_id if owner is not None else None
    decider = await session.get(Person, decider_id) if decider_id else None
    return Resubmitted(goal, decider, goal.return_reason or "", changes, note)


@dataclass
class Withdrawn:
    goal: Goal
    deleted: bool  # else archived: it had gone further than a proposal


async def withdraw(session: AsyncSession, viewer: Viewer, number: int) -> Withdrawn:
    """A proposal the viewer may change and no longer wants is to be deleted (`forget`) when nothing came
    of it yet (no key result moved, nothing supporting it); anything older is archived here instead."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "withdraw")
    moved = (await session.execute(select(sa.func.count()).select_from(KeyResult).where(
        KeyResult.goal_id == goal.id, KeyResult.current != KeyResult.start))).scalar_one()
    supported = (await session.execute(select(sa.func.count()).select_from(Goal).where(
        Goal.parent_id == goal.id))).scalar_one()
    if goal.status not in (Status.PROPOSED, Status.RETURNED) or moved or supported:
        archived, _supporters = await archive(session, viewer, number)
        return Withdrawn(archived, deleted=False)
    return Withdrawn(goal, deleted=True)


async def forget(session: AsyncSession, goal: Goal) -> None:
    """Delete a withdrawn proposal, and what is only its own."""
    await session.flush()  # messages about it, still pending, first
    session.expunge(goal)
    await repository.delete_goal(session, goal.id)


async def archive(session: AsyncSession, viewer: Viewer, number: int) -> tuple[Goal, list[Goal]]:
    """The goal is put away: it leaves lists and no longer counts in its parent's progress. The goals that
    support it stay where they are, marked as supporting an archived goal, to be linked elsewhere; they
    are returned."""
    goal = await get_goal(session, viewer, number)
    await require_change(session, viewer, goal, "archive")
    if goal.status == Status.ARCHIVED:
        raise UserError(f"{goal.ref} is archived already.")
    before = snapshot(goal)
    goal.status = Status.ARCHIVED
    goal.awaiting = None
    record(session, goal, viewer.id, "archived", before)
    if goal.parent_id is not None:
        await rollup(session, goal.parent_id, viewer.id)
    supporters = (await session.execute(select(Goal).where(Goal.parent_id == goal.id, Goal.status.in_(OPEN))
                                        .order_by(Goal.number))).scalars().all()
    return goal, list(supporters)


async def give_kudos(session: AsyncSession, viewer: Viewer, who: str, message: str, number: int | None) -> tuple[Kudos, Person, Goal | None]:
    """Recognition from the viewer to someone in the tenant, optionally for a goal the viewer may see."""
    receiver = await find_person(session, viewer, who)
    if receiver.id == viewer.id:
        raise UserError("Kudos are for someone else; thank a colleague instead.")
    goal = await get_goal(session, viewer, number) if number is not None else None
    kudos = Kudos(tenant_id=viewer.tenant.id, giver_id=viewer.id, receiver_id=receiver.id, goal_id=goal.id if goal else None, message=message)
    session.add(kudos)
    await session.flush()
    return kudos, receiver, goal
