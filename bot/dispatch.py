"""The conversation core's front door: parse, resolve the actor, authorize, act, reply."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import (
    admin, browse, checkins, commands, digest, goals, home, inbox, maps, notify, outbox, people, preferences, privacy,
    summaries, values, views,
)
from bot.commands import Command
from bot.errors import UserError
from bot.messages import Action, Actor, Address, Dashboard, Do, IncomingMessage, Inbound, Link, Reply
from bot.access import get_goal, require_change
from bot.people import Viewer, find_viewer, join, refresh_profile
from storage.database import Database
from storage.models import Person, as_utc, utcnow

log = logging.getLogger("goalbot.core")
T = TypeVar("T")
RETRIES = 3


class _Home:
    """Not a command anyone types: the dashboard, read like one."""

    writes = False


class _Unknown(Exception):
    """The actor has never been seen: rerun in a write transaction so they can join."""


def _is_transient(error: DBAPIError) -> bool:
    """Worth running the whole command again: a lock conflict, or a row someone else just inserted
    (two first messages from one new person, say), which the retry will find instead of adding."""
    if isinstance(error, IntegrityError):
        return True
    text = str(error.orig).lower()
    return any(word in text for word in ("deadlock", "could not serialize", "database is locked"))


@dataclass(frozen=True)
class Result:
    """What running one command did."""

    reply: Reply
    changed: bool = False  # a command that changes something was applied
    queued: bool = False  # the outbox has new rows
    marked: bool = False  # the delivery was marked done in the command's own transaction


class Bot:
    """Answers people: one incoming message or action in, one reply out.

    Each command runs in one transaction, so it applies whole or not at all.
    Inbound turns from the platforms come through `bot.turns`, which records each
    delivery first; `handle`, `act` and `run` are the same core for callers that
    need no delivery record (the console, tests).
    """

    def __init__(self, db: Database, links: maps.MapLinks | None = None) -> None:
        self.db = db
        self.links = links or maps.MapLinks()  # where the goal map is served, for the links to it
        self.outboxes: list = []  # every platform's outbox worker, woken when a command queues messages

    def wake_outboxes(self) -> None:
        for worker in self.outboxes:
            worker.wake()

    async def handle(self, message: IncomingMessage, delivery: str | None = None) -> Reply:
        """A line someone typed: parsed, then run as its command."""
        return (await self.perform(message, delivery)).reply

    async def act(self, action: Action, delivery: str | None = None) -> Reply:
        """A button press or form: the action names a command; the verified actor decides who does it."""
        return (await self.perform(action, delivery)).reply

    async def perform(self, inbound: Inbound, delivery: str | None = None) -> Result:
        """Any neutral input: a typed line, an action, an opened dashboard."""
        try:
            match inbound:
                case IncomingMessage(text=text, address=address):
                    line = values.clean(text)
                    # In a direct conversation a line that starts with a goal answers the check-in.
                    command: Command | _Home = commands.parse(line if address.is_channel else commands.chat_line(line))
                    if isinstance(command, commands.SummaryAdd):
                        command = replace(command, known=inbound.channels)  # the channels as the adapter found them
                case Action():
                    command = self.command_for(inbound)
                case Dashboard():
                    command = _Home()
        except UserError as error:
            loose = commands.loose_answer(values.clean(inbound.text)) if isinstance(inbound, IncomingMessage) else None
            if loose and not inbound.address.is_channel:
                # Perhaps a reply to a check-in prompt that names no goal; the core decides once it knows the person.
                command = commands.CheckIn(loose=loose, text=values.clean(inbound.text).strip())
            else:
                return Result(Reply.refusal(error))
        return await self._run(inbound.actor, command, delivery)

    @staticmethod
    def command_for(action: Action) -> Command:
        """The command an action stands for. Raises UserError (FormError for a form field) when it is malformed."""
        form = {values.clean(key, lines=False): values.clean(value) for key, value in action.form}
        action = replace(action, value=values.clean(action.value, lines=False).strip())
        if action.name == Do.ADD_GOAL:
            return commands.parse_goal_form(form)
        if action.name in (Do.OPEN_CHECKIN, Do.ANSWER_CHECKIN):
            return commands.parse_checkin(form.get("answer", ""))
        if action.name == Do.SET_HEALTH:
            return commands.parse_health_button(action.value)
        if action.name == Do.PICK_GOAL:
            return commands.CheckIn(pick=commands.goal_ref(action.value, "checkin"), text=action.value)
        if action.name == Do.NUDGE:
            return commands.Nudge("@" + action.value)  # who may nudge is decided from the presser, not the value
        if action.name == Do.EDIT:
            if not form:
                return commands.EditForm(commands.goal_ref(action.value, "edit"))
            return commands.parse_edit_form(action.value, form)
        if action.name == Do.LINK:
            words = action.value.split()
            if len(words) != 2:
                raise UserError("That button names no goal to link; try goals link G-12 G-3.")
            return commands.Link(commands.goal_ref(words[0], "link"), commands.goal_ref(words[1], "link", "parent goal"))
        number = commands.goal_ref(action.value, "show")
        if action.name == Do.SHOW:
            return commands.Show(number)
        if action.name == Do.APPROVE:
            return commands.Approve(number)
        if action.name == Do.RETURN:
            try:
                reason = commands._require_text(form.get("reason", ""), "return", "The reason", commands.MAX_NOTE)
            except UserError as error:
                raise commands.FormError("reason", error.problem) from None
            return commands.Return(number, reason)
        raise UserError(f"I don't know the action {values.quote(action.name)}.")

    async def home(self, actor: Actor) -> Reply:
        """The actor's dashboard."""
        return await self.run(actor, _Home())

    async def welcome(self, actor: Actor, occasion: str) -> None:
        """Someone installed goalbot: they join if new, and are owed one welcome per occasion (a conversation)."""
        await self._owe_self(actor, outbox.Kind.WELCOME, views.welcome, f"welcome:{actor.platform}:{occasion}", may_join=True)

    async def owe(self, actor: Actor, kind: str, reply: Reply, key: str, *, to: Address | None = None,
                  not_before: datetime | None = None) -> None:
        """A message the outbox sends for the actor (an answer the platform kept out, say): to where they
        wrote from when that was a channel (`to`), else to them."""
        await self._owe_self(actor, kind, lambda person: reply, key, not_before=not_before,
                             channel=to if to is not None and to.is_channel else None)

    async def _owe_self(self, actor: Actor, kind: str, make: Callable[[Person], Reply], key: str, *,
                        may_join: bool = False, not_before: datetime | None = None,
                        channel: Address | None = None) -> None:
        async def enqueue(session: AsyncSession, viewer: Viewer) -> None:
            if channel is not None:
                await outbox.enqueue(session, viewer.tenant.id, channel, channel.platform, kind, make(viewer.person),
                                     key, not_before=not_before)
            else:
                await notify.enqueue(session, viewer, viewer.person, kind, make(viewer.person), key[:200],
                                     not_before=not_before)

        await self._as(values.actor(actor), True, enqueue, may_join=may_join, what="a message owed")
        # The caller wakes the outboxes once the person can be reached (Teams: once the chat is stored).

    async def _as(self, actor: Actor, write: bool, work: Callable[[AsyncSession, Viewer], Awaitable[T]], *,
                  may_join: bool = True, what: str = "") -> T | None:
        """Do `work` as the actor in one transaction, run again whole after a transient conflict. A read by
        someone never seen becomes a write, so they can join; None when they may not (`may_join`)."""
        for attempt in range(RETRIES):
            try:
                async with self.db.transaction(write=write) as session:
                    viewer = await find_viewer(session, actor)
                    if viewer is None:
                        if not write:
                            raise _Unknown
                        if not may_join:
                            return None
                        viewer = await join(session, actor)
                    if write:
                        await refresh_profile(session, viewer, actor)
                    return await work(session, viewer)
            except _Unknown:
                write = True
            except DBAPIError as error:
                if not (_is_transient(error) and attempt < RETRIES - 1):
                    raise
                log.warning("retrying %s after a transient database error: %s", what, error.orig)
        raise RuntimeError("retries exhausted")

    async def emails_like(self, tenant: str, email: str) -> tuple[bool, list[str]]:
        """Whether the tenant has someone with this email; else the closest emails it has."""
        async with self.db.transaction(write=False) as session:
            return await people.emails_like(session, tenant, values.clean(email, lines=False)[:320])

    async def waiting(self, actor: Actor) -> Reply | None:
        """What waits for someone who just arrived (the console's `:as`): decisions, acceptances, goals
        returned to them, kudos of the last week; None when nothing does."""
        async def work(session: AsyncSession, viewer: Viewer) -> Reply | None:
            return views.waiting(await browse.pending(session, viewer), await browse.returned_and_thanked(session, viewer))

        return await self._as(values.actor(actor), False, work, what="what waits")

    async def edit_form(self, actor: Actor, ref: str) -> dict[str, str] | Reply:
        """A goal's fields as its edit form shows them, when the actor may change it; else the refusal."""
        try:
            number = commands.goal_ref(values.clean(ref, lines=False).strip(), "edit")
        except UserError as error:
            return Reply.refusal(error)

        async def work(session: AsyncSession, viewer: Viewer) -> dict[str, str]:
            goal = await get_goal(session, viewer, number)
            await require_change(session, viewer, goal, "edit")
            if goal.status not in goals.EDITABLE:
                raise UserError(f"{goal.ref} is {goal.status}; bring it back first with goals reopen {goal.ref}.")
            return views.edit_values(goal)

        try:
            found = await self._as(values.actor(actor), False, work, what="an edit form")
        except UserError as error:
            return Reply.refusal(error)
        return found if found is not None else Reply.text("Say hello to goalbot first.")

    async def goal_choices(self, actor: Actor, query: str) -> list[tuple[str, str]]:
        """Goals the actor may pick as a parent, matching what they typed."""
        actor, query = values.actor(actor), values.clean(query, lines=False)[:200]
        async with self.db.transaction(write=False) as session:
            viewer = await find_viewer(session, actor)
            if viewer is not None:
                return await browse.goal_choices(session, viewer, query)
        async with self.db.transaction(write=True) as session:  # a first-time user joins first
            viewer = await find_viewer(session, actor) or await join(session, actor)
            return await browse.goal_choices(session, viewer, query)

    async def run(self, actor: Actor, command: Command | _Home, delivery: str | None = None) -> Reply:
        """Run one parsed command; see `_run`."""
        return (await self._run(actor, command, delivery)).reply

    async def _run(self, actor: Actor, command: Command | _Home, delivery: str | None = None) -> Result:
        """Run one command in one transaction, retried whole after a transient conflict. `delivery`
        (the platform's key for the request) is marked done in that transaction, so a request run
        again after a crash cannot apply twice."""
        try:
            actor = values.actor(actor)
        except UserError as error:
            return Result(Reply.refusal(error))
        async def execute(session: AsyncSession, viewer: Viewer) -> Result:
            marked = False
            if command.writes and delivery is not None:
                if not await inbox.mark_done(session, actor.platform, delivery):
                    return Result(Reply.text("That was done already."))
                marked = True
            reply = await self._execute(session, viewer, command)
            if command.writes:
                digest.touch(session, viewer.id)
                await digest.mark_changed(session)
            return Result(reply, changed=command.writes, queued=outbox.queued(session), marked=marked)

        try:
            result = await self._as(actor, command.writes, execute, what=type(command).__name__)
        except UserError as error:
            return Result(Reply.refusal(error))
        except Exception as error:  # noqa: BLE001 - the person gets a line, the operator the trace
            return Result(self._crash(actor, command, error))
        assert result is not None
        if result.queued:
            self.wake_outboxes()
        return result

    def _crash(self, actor: Actor, command: Command | _Home, error: BaseException) -> Reply:
        incident = secrets.token_hex(4)
        log.error(
            "incident %s: %s failed for %s user %s in tenant %s",
            incident, type(command).__name__, actor.platform, actor.user_id, actor.tenant, exc_info=error,
        )
        return Reply.failure(f"Something went wrong on our side and nothing was changed (incident {incident}).")

    def _map_link(self, viewer: Viewer, scope: maps.MapScope) -> Link:
        """A link for the viewer to open the map of the scope (in Teams, in the app's map tab)."""
        made = self.links.make(viewer.tenant, viewer.id, scope, utcnow())
        return Link(views.MAP_LABELS[scope.kind], made.url, made.token)

    # The goal map's pages: opened with a link, whoever holds it; the link says who it is for.

    async def open_map(self, token: str, now: datetime) -> maps.MapPage:
        """The map a link opens, as its person may see it now (with their dashboard when it opens theirs).
        Raises maps.LinkRefused when the link opens nothing."""
        async with self.db.transaction(write=False) as session:
            viewer, found = await maps.open_link(session, token, now)
            goal_map = await maps.read(session, viewer, found.scope, now)
            mine = await home.dashboard(session, viewer) if found.scope.kind == maps.ScopeKind.MINE else None
            return maps.MapPage(goal_map, found, mine)

    async def relink(self, token: str, now: datetime,
                     lifetime: timedelta | None = None) -> tuple[maps.MapLink, maps.Pass]:
        """A new link to the same person's own goals, working for `lifetime` (else as long as a chat link). The
        Teams tab keeps one for `maps.TAB_KEPT` once a link opened in it, and opens each page with a short one
        made from it, so the page never holds the one it keeps. Returns the new link and what the given one says.
        Raises maps.LinkRefused."""
        async with self.db.transaction(write=False) as session:
            viewer, found = await maps.open_link(session, token, now)
            made = self.links.make(viewer.tenant, viewer.id, maps.MapScope(maps.ScopeKind.MINE), now, lifetime)
            return made, found

    async def map_goal(self, token: str, number: int, now: datetime) -> Reply:
        """One goal in full for the map's panel, as the link's person may see it; a refusal when they may not.
        Raises maps.LinkRefused when the link opens nothing."""
        async with self.db.transaction(write=False) as session:
            viewer, _ = await maps.open_link(session, token, now)
            try:
                info = await browse.goal_detail(session, viewer, number)
            except UserError as error:
                return Reply.refusal(error)
            return views.map_panel(info, await maps.recent_checkins(session, info.goal.id))

    @staticmethod
    async def _settings(session: AsyncSession, viewer: Viewer, changed: bool = False) -> Reply:
        person = viewer.person
        plan, source = await checkins.schedule_of(session, person)
        next_at = None
        if not person.checkins_off:
            due = as_utc(person.next_prompt_at) or await checkins.reschedule(session, person)
            # The first one that will be sent: time away and holidays skip prompts.
            next_at = await checkins.next_sent_prompt(session, person, due - timedelta(seconds=1))
        return views.checkin_settings(person, plan, source, next_at, changed=changed)

    @staticmethod
    async def _answer(session: AsyncSession, viewer: Viewer, command: commands.CheckIn) -> Reply:
        recorded = await checkins.record_answer(session, viewer, command)
        told = {}
        for goal in recorded.updated:
            if goal.id in recorded.healths_before:
                told[goal.ref] = await notify.health_changed(session, viewer, goal, recorded.healths_before[goal.id])
        return views.checkin_recorded(recorded.current, recorded.updated, told)

    async def _execute(self, session: AsyncSession, viewer: Viewer, command: Command | _Home) -> Reply:
        match command:
            case commands.Help(topic):
                return views.help_reply(topic)
            case commands.Add(draft) | commands.Assign(draft):
                proposal = await goals.create(session, viewer, draft)
                await notify.proposal(session, viewer, proposal)
                return views.proposal(proposal)
            case commands.AddFromForm(draft, key_results):
                proposal = await goals.create(session, viewer, draft)
                for kr in key_results:
                    await goals.add_key_result(session, viewer, proposal.goal.number, kr.metric, kr.start, kr.target, kr.unit)
                await notify.proposal(session, viewer, proposal)
                return views.proposal(proposal)
            case commands.CheckIn(items) if items:
                return await self._answer(session, viewer, command)
            case commands.CheckIn(pick=number) if number is not None:
                current = await checkins.open_prompt(session, viewer)
                pending = checkins.take_pending(current) if current is not None else None
                if pending is None:
                    raise commands.fail("checkin", f"G-{number}: give a percentage, a health or a note")
                return await self._answer(session, viewer, commands.loose_part(f"G-{number}", pending))
            case commands.CheckIn(loose=text) if text:
                current = await checkins.open_prompt(session, viewer)
                if current is None or not current.goals:
                    line = command.text or text
                    commands.parse(line if line.split()[0].lower() in ("checkin", "check-in")
                                   else commands.chat_line(line))  # not an answer after all: its own refusal
                    raise AssertionError("a loose reply that parses as a command")
                if len(current.goals) == 1:
                    return await self._answer(session, viewer, commands.loose_part(current.goals[0].ref, text))
                checkins.keep_pending(current, text)
                return views.which_goal(current.goals, text)
            case commands.CheckIn():
                current = await checkins.state(session, viewer)
                return views.checkin_state(current, await checkins.key_results_of(session, current.goals))
            case _Home():
                return await home.dashboard(session, viewer, self._map_link(viewer, maps.MapScope()))
            case commands.ListGoals(scope="pending"):
                return views.pending(await browse.pending(session, viewer))
            case commands.ListGoals(scope, person, include_all, page):
                result = await browse.list_goals(session, viewer, scope, person, include_all, page)
                words = " ".join(w for w in (person or scope, "all" if include_all else "") if w)
                return views.goal_page(result, words)
            case commands.Show(number):
                return views.detail(await browse.goal_detail(session, viewer, number),
                                    self._map_link(viewer, maps.MapScope(maps.ScopeKind.GOAL, number)))
            case commands.MapOpen(number, unit, part):
                scope, words = await maps.scope_for(session, viewer, number, unit, maps.ScopeKind(part))
                return views.map_link(self._map_link(viewer, scope), words, self.links.minutes_words)
            case commands.MapRevoke():
                maps.revoke(viewer, utcnow())
                return Reply.text("Done: the goal map links you were given before now open nothing. goals map gives "
                                  "you a new one.")
            case commands.Edit(number, changes):
                result = await goals.edit(session, viewer, number, dict(changes))
                await notify.proposal_changed(session, result.goal)
                return views.edited(result)
            case commands.EditForm(number):
                goal = await get_goal(session, viewer, number)
                await require_change(session, viewer, goal, "edit")
                return views.edit_form(goal)
            case commands.Tree(number):
                return views.tree(await browse.goal_tree(session, viewer, number))
            case commands.Link(number, parent):
                return views.linked(await goals.link(session, viewer, number, parent))
            case commands.Unlink(number):
                return views.linked(await goals.unlink(session, viewer, number))
            case commands.Approve(number):
                decision = await goals.approve(session, viewer, number)
                await notify.decision(session, viewer, decision)
                return views.decision(decision)
            case commands.Return(number, reason):
                decision = await goals.return_goal(session, viewer, number, reason)
                await notify.decision(session, viewer, decision)
                return views.decision(decision)
            case commands.Progress(number, percent, health, note):
                before = (await goals.get_goal(session, viewer, number)).health
                goal = await goals.progress(session, viewer, number, percent, health, note)
                told = await notify.health_changed(session, viewer, goal, before)
                return views.progress_update(goal, told)
            case commands.KeyResultAdd(number, metric, start, target, unit):
                goal, kr = await goals.add_key_result(session, viewer, number, metric, start, target, unit)
                return views.key_result_saved(goal, kr, added=True)
            case commands.KeyResultUpdate(number, position, current, share):
                goal, kr = await goals.update_key_result(session, viewer, number, position, current, share)
                return views.key_result_saved(goal, kr, added=False, share=current if share else None)
            case commands.KeyResultEdit(number, position, metric, start, target, unit):
                goal, kr = await goals.edit_key_result(session, viewer, number, position, metric, start, target, unit)
                return views.key_result_saved(goal, kr, added=False, changed=True)
            case commands.KeyResultRemove(number, position):
                goal = await goals.remove_key_result(session, viewer, number, position)
                return views.key_result_removed(goal, position)
            case commands.MilestoneAdd(number, title, due):
                goal, milestone = await goals.add_milestone(session, viewer, number, title, due)
                return views.milestone_saved(goal, milestone)
            case commands.MilestoneChange(number, position, done):
                goal, milestone = await goals.change_milestone(session, viewer, number, position, done)
                return views.milestone_changed(goal, milestone, done)
            case commands.Done(number, anyway):
                return views.status_changed(await goals.complete(session, viewer, number, anyway))
            case commands.Archive(number):
                return views.archived(*await goals.archive(session, viewer, number))
            case commands.Reopen(number):
                goal = await goals.reopen(session, viewer, number)
                return views.reopened(goal)
            case commands.Resubmit(number, note):
                result = await goals.resubmit(session, viewer, number, note)
                await notify.resubmitted(session, viewer, result)
                return views.resubmitted(result)
            case commands.Withdraw(number):
                withdrawn = await goals.withdraw(session, viewer, number)
                reply = views.withdrawn(withdrawn)
                if withdrawn.deleted:
                    await notify.withdrawn(session, viewer, withdrawn.goal)
                    await goals.forget(session, withdrawn.goal)
                return reply
            case commands.GiveKudos(person, message, number):
                given, receiver, goal = await goals.give_kudos(session, viewer, person, message, number)
                await notify.kudos(session, viewer, given, receiver, goal)
                return views.kudos(given, viewer.person, receiver, goal)
            case commands.CheckinSettings(None, None, None, None):
                return await self._settings(session, viewer)
            case commands.CheckinSettings(weekday, at, cadence, None):
                await preferences.checkin_schedule(session, viewer, weekday, at, cadence)
                return await self._settings(session, viewer, changed=True)
            case commands.CheckinSettings(switch=switch):
                await preferences.checkin_switch(session, viewer, switch)
                return await self._settings(session, viewer, changed=True)
            case commands.NudgeSettings(on):
                viewer.person.nudges_off = not on
                return Reply.text("Saved. " + ("You get nudges about your goals that support nothing or have had no "
                                               "update for two check-ins, at most one per goal every two weeks."
                                               if on else "No more nudges about your goals; goals settings nudges "
                                               "on brings them back."))
            case commands.DigestSettings(weekday, at, switch):
                return views.digest_settings(*await digest.settings(session, viewer, weekday, at, switch))
            case commands.TimezoneSetting(name):
                await preferences.timezone(session, viewer, name)
                return await self._settings(session, viewer, changed=True)
            case commands.CheckinDefault(weekday, at, cadence, unit):
                return views.checkin_default(*await admin.set_checkin_default(session, viewer, weekday, at, cadence, unit))
            case commands.ReminderSetting(minutes):
                return views.reminder_setting(await admin.set_reminder(session, viewer, minutes))
            case commands.HolidayCommand(op, day, name):
                return views.holidays(op, day, *await admin.holidays(session, viewer, op, day, name))
            case commands.PersonData(action, email, confirmed):
                admin.require_admin(viewer, f"{action} a person's data")
                if action == "export":
                    return views.person_export(email, await privacy.export(session, viewer.tenant.key, email))
                if not confirmed:
                    await privacy.find(session, viewer.tenant.key, email)  # refused now if nobody has it
                    return views.erase_confirm(email)
                if email == viewer.person.email.lower():
                    raise UserError("You cannot erase yourself; another admin can.")
                await privacy.erase(session, viewer.tenant.key, email)
                return views.erased(email)
            case commands.AlignmentReport(unit):
                return views.alignment_report(*await admin.alignment_report(session, viewer, unit))
            case commands.OutboxCommand(None):
                return views.outbox_report(await admin.outbox_report(session, viewer))
            case commands.OutboxCommand(retry):
                return views.outbox_retried(await admin.retry_message(session, viewer, retry))
            case commands.SummaryAdd(channel, unit, cadence, weekday, at, known):
                return summaries.added(await summaries.add(session, viewer, channel, unit, cadence, weekday, at, known))
            case commands.SummaryList():
                return summaries.listing(await summaries.listed(session, viewer), viewer.is_admin)
            case commands.SummaryRemove(number):
                return summaries.removed(await summaries.remove(session, viewer, number))
            case commands.Away(until):
                return views.away(*preferences.away(viewer, until))
            case commands.Digest(part):
                found = await digest.digest(session, viewer)
                found.map = self._map_link(viewer, maps.MapScope(maps.ScopeKind.TEAM))
                return digest.render(found, part)
            case commands.Nudge(who):
                return views.nudged(await notify.nudge(session, viewer, who))
        raise AssertionError(f"unhandled command {command!r}")
