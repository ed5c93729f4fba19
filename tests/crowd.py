"""Many people at once, for fan-out tests and benchmarks: inserted in bulk, each with a chat account and
active goals (a key result on every other one)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from bot.people import company_unit, tenant_by_key
from storage.database import Database
from storage.models import Goal, Identity, KeyResult, Person, utcnow


async def populate(db: Database, count: int, *, tenant: str = "default", zone: str = "Europe/Lisbon",
                   platform: str = "slack", goals_each: int = 1, start: int = 0) -> dict[str, int]:
    """`count` people `person{i}@crowd.example` with ids `U{i:06d}` on `platform`; returns user id -> person id."""
    now = utcnow()
    async with db.transaction() as session:
        found = await tenant_by_key(session, tenant, create=True)
        unit = await company_unit(session, found, create=True)
        people = [{"tenant_id": found.id, "email": f"person{i}@crowd.example", "name": f"Person {i}", "timezone": zone,
                   "role": "member", "org_unit_id": unit.id, "checkin_own": False, "checkin_weekday": 0,
                   "checkin_time": "09:00", "checkin_cadence": "weekly", "checkins_off": False,
                   "created_at": now, "updated_at": now} for i in range(start, start + count)]
        await session.execute(sa.insert(Person.__table__), people)
        ids = dict((await session.execute(
            select(Person.email, Person.id).where(Person.tenant_id == found.id, Person.email.like("%@crowd.example"))
        )).all())
        users = {f"U{i:06d}": ids[f"person{i}@crowd.example"] for i in range(start, start + count)}
        await session.execute(sa.insert(Identity.__table__), [
            {"tenant_id": found.id, "person_id": person, "platform": platform, "external_id": user, "created_at": now}
            for user, person in users.items()])
        first = found.last_goal_number + 1
        goals = [{"tenant_id": found.id, "number": first + n, "title": f"Goal {n} of its owner", "description": "",
                  "level": "individual", "owner_person_id": person, "category": "business", "private": False,
                  "status": "active", "progress": 40.0, "manual_progress": 40.0, "note": "on the way",
                  "created_at": now, "updated_at": now, "likeness_checked_at": now}  # compared already, as if made in chat
                 for n, person in enumerate(p for p in users.values() for _ in range(goals_each))]
        await session.execute(sa.insert(Goal.__table__), goals)
        found.last_goal_number = first + len(goals) - 1
        goal_ids = (await session.execute(
            select(Goal.id).where(Goal.tenant_id == found.id, Goal.number >= first).order_by(Goal.number))).scalars().all()
        await session.execute(sa.insert(KeyResult.__table__), [
            {"goal_id": goal_id, "position": 1, "metric": "Things done", "start": 0, "target": 10, "current": 4,
             "unit": "", "updated_at": now} for goal_id in goal_ids[::2]])
    return users


async def teams_chats(db: Database, users: dict[str, int], *, tenant: str, teams_tenant: str, service_url: str) -> None:
    """A stored personal-chat reference for each of `users` (user id -> person id), as Teams hands them out
    when the app is installed (botbuilder serialises the tenant as `tenantID`), pointing at `service_url`."""
    from storage.models import TeamsConversation

    now = utcnow()
    async with db.transaction() as session:
        found = await tenant_by_key(session, tenant)
        await session.execute(sa.insert(TeamsConversation.__table__), [{
            "tenant_id": found.id, "person_id": person, "user_id": f"29:{user}", "aad_object_id": None,
            "conversation_id": f"a:{user}", "created_at": now, "updated_at": now,
            "reference": {"user": {"id": f"29:{user}", "name": user}, "bot": {"id": "28:goalbot", "name": "goalbot"},
                          "conversation": {"id": f"a:{user}", "conversationType": "personal", "tenantID": teams_tenant},
                          "channelId": "msteams", "serviceUrl": service_url},
        } for user, person in users.items()])
