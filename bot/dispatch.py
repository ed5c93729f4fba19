"""The conversation core's front door: parse, resolve the actor, authorize, act, reply."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import browse, commands, goals, views
from bot.commands import Command
from bot.errors import UserError
from bot.messages import Action, Actor, IncomingMessage, Reply
from bot.people import Viewer, find_viewer, join, refresh_profile, valid_timezone
from storage.database import Database
from storage.models import utcnow

log = logging.getLogger("goalbot.core")
RETRIES = 3


class _Unknown(Exception):
    """The actor has never been seen: rerun in a write transaction so they can join."""


def _is_transient(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    return any(word in text for word in ("deadlock", "could not serialize", "database is locked"))


class Bot:
    """Answers people: one incoming message or action in, one reply out.

    Each command runs in one transaction, so it applies whole or not at all.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle(self, message: IncomingMessage) -> Reply:
        try:
            command = commands.parse(message.text)
        except UserError as error:
            return Reply.failure(error.message)
        return await self.run(message.actor, command)

    async def act(self, action: Action) -> Reply:
        """A button press: the action names a command; the verified actor decides who does it."""
        form = dict(action.form)
        try:
            number = commands.goal_ref(action.value, "show")
            if action.name == "goal.approve":
                command: Command = commands.Approve(number)
            elif action.name == "goal.return":
                command = commands.Return(number, commands._require_text(form.get("reason", ""), "return", "The reason", commands.MAX_NOTE))
            else:
                return Reply.failure(f"I don't know the action `{action.name}`.")
        except UserError as error:
            return Reply.failure(error.message)
        return await self.run(action.actor, command)

    async def run(self, actor: Actor, command: Command) -> Reply:
        write = command.writes
        for attempt in range(RETRIES):
            try:
                async with self.db.transaction(write=write) as session:
                    viewer = await find_viewer(session, actor)
                    if viewer is None:
                        if not write:
                            raise _Unknown
                        viewer = await join(session, actor)
                    if write:
                        await refresh_profile(session, viewer, actor)
                    return await self._execute(session, viewer, command)
            except _Unknown:
                write = True
            except UserError as error:
                return Reply.failure(error.message)
            except DBAPIError as error:
                if _is_transient(error) and attempt < RETRIES - 1:
                    log.warning("retrying %s after a transient database error: %s", type(command).__name__, error.orig)
                    continue
                return self._crash(actor, command, error)
            except Exception as error:  # noqa: BLE001 - the person gets a line, the operator the trace
                return self._crash(actor, command, error)
        return self._crash(actor, command, RuntimeError("retries exhausted"))

    def _crash(self, actor: Actor, command: Command, error: BaseException) -> Reply:
        incident = secrets.token_hex(4)
        log.error(
            "incident %s: %s failed for %s user %s in tenant %s",
            incident, type(command).__name__, actor.platform, actor.user_id, actor.tenant, exc_info=error,
        )
        return Reply.failure(f"Something went wrong on our side and nothing was changed (incident {incident}).")

    async def _execute(self, session: AsyncSession, viewer: Viewer, command: Command) -> Reply:
        match command:
            case commands.Help(topic):
                return views.help_reply(topic)
            case commands.Add(draft):
                return views.proposal(await goals.propose(session, viewer, draft))
            case commands.Assign(draft):
                return views.proposal(await goals.assign(session, viewer, draft))
            case commands.ListGoals(scope, person, include_all, page):
                result = await browse.list_goals(session, viewer, scope, person, include_all, page)
                words = " ".join(w for w in (person or scope, "all" if include_all else "") if w)
                return views.goal_page(result, words)
            case commands.Show(number):
                return views.detail(await browse.goal_detail(session, viewer, number))
            case commands.Tree(number):
                return views.tree(await browse.goal_tree(session, viewer, number))
            case commands.Link(number, parent):
                return views.linked(await goals.link(session, viewer, number, parent))
            case commands.Unlink(number):
                return views.linked(await goals.unlink(session, viewer, number))
            case commands.Approve(number):
                return views.decision(await goals.approve(session, viewer, number))
            case commands.Return(number, reason):
                return views.decision(await goals.return_goal(session, viewer, number, reason))
            case commands.Progress(number, percent, health, note):
                return views.progress_update(await goals.progress(session, viewer, number, percent, health, note))
            case commands.KeyResultAdd(number, metric, start, target, unit):
                goal, kr = await goals.add_key_result(session, viewer, number, metric, start, target, unit)
                return views.key_result_saved(goal, kr, added=True)
            case commands.KeyResultUpdate(number, position, current):
                goal, kr = await goals.update_key_result(session, viewer, number, position, current)
                return views.key_result_saved(goal, kr, added=False)
            case commands.MilestoneAdd(number, title, due):
                goal, milestone = await goals.add_milestone(session, viewer, number, title, due)
                return views.milestone_saved(goal, milestone)
            case commands.Done(number):
                return views.status_changed(await goals.complete(session, viewer, number))
            case commands.Archive(number):
                return views.status_changed(await goals.archive(session, viewer, number))
            case commands.GiveKudos(person, message, number):
                given, receiver, goal = await goals.give_kudos(session, viewer, person, message, number)
                return views.kudos(given, viewer.person, receiver, goal)
            case commands.CheckinSettings(weekday, at, cadence):
                person = viewer.person
                if weekday is not None:
                    person.checkin_weekday = weekday
                if at is not None:
                    person.checkin_time = at.strftime("%H:%M")
                if cadence is not None:
                    person.checkin_cadence = cadence
                person.updated_at = utcnow()
                return views.checkin_settings(person)
            case commands.TimezoneSetting(name):
                if not valid_timezone(name):
                    raise UserError(f"`{name}` is not a time zone I know. Try: goals settings timezone Europe/Paris")
                viewer.person.timezone = name
                viewer.person.updated_at = utcnow()
                return views.checkin_settings(viewer.person)
            case commands.Away(until):
                if until is not None and until < utcnow().date():
                    raise UserError(f"{until} has passed already. Try: goals away until 2027-01-05")
                viewer.person.away_until = until
                viewer.person.updated_at = utcnow()
                return views.away(viewer.person)
        raise AssertionError(f"unhandled command {command!r}")
