"""Turning service results into neutral replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot import browse, schedule
from bot.commands import ADMIN_USAGE, HELP_GROUPS, SHORT_USAGE, SUMMARY, USAGE
from bot.goals import Decision, Edited, Linked, Proposal, snapshot
from bot.messages import (
    Do,
    Button, Buttons, Context, Divider, Fields, Header, Link, Paragraph, ProgressLine, Reply, ReplyBuilder,
)
from storage.models import Goal, KeyResult, Kudos, Milestone, Person, as_utc
from storage.vocabulary import Awaiting, Health, Status
from bot.alignment import STANDALONE

def health_word(health: str | None) -> str:
    """A goal's health as people say it ("at risk"), or that none is set."""
    return Health.words_of(health) if health else "no health set"


def number(value: float) -> str:
    """A number as people write it: 40, 62.5."""
    return f"{value:g}"


def percent(value: float) -> str:
    """A percentage as a whole number, as everywhere goalbot shows one: 21, not 20.83."""
    return f"{round(value):d}"


def row_detail(row: browse.GoalRow) -> str:
    """A listed goal's small print: its owner, its status unless active, and whether it is private."""
    parts = [row.owner] if row.owner else []
    if row.status != Status.ACTIVE:
        parts.append(row.status)
    if row.private:
        parts.append("private")
    if row.parent_archived and row.parent_number is not None:
        parts.append(f"supports G-{row.parent_number}, archived: goals link {row.ref} G-<n>")
    return " · ".join(parts)


def goal_line(row: browse.GoalRow) -> ProgressLine:
    """A listed goal as a progress line."""
    return ProgressLine(ref=row.ref, label=row.title, percent=row.progress, detail=row_detail(row), health=row.health, depth=row.depth)


def help_reply(topic: str | None) -> Reply:
    """The commands by what a person wants to do, or one command with each of its forms on a line."""
    if topic:
        forms = ADMIN_USAGE.values() if topic == "admin" else USAGE[topic].split("   or   ")
        lines = [line for form in forms for line in form.split("   or   ")]
        return ReplyBuilder().add(Header(f"goals {topic}"), Paragraph(SUMMARY[topic]),
                                  Paragraph("\n".join(lines))).build()
    builder = ReplyBuilder().add(Header("goalbot commands"))
    for title, names in HELP_GROUPS:
        builder.add(Paragraph(title), Fields(tuple((SHORT_USAGE[name], SUMMARY[name]) for name in names)))
    return builder.add(
        Context("Say `goals help <command>` for one command in full. Goals are named G-12; key results G-12.1."),
    ).build()


def proposal(result: Proposal) -> Reply:
    """The answer to a new goal: where it stands, who decides, and the advice on it."""
    goal = result.goal
    if goal.status == Status.ACTIVE:
        first = f"Added {goal.ref} {goal.title}. It is active."
    elif goal.awaiting == Awaiting.OWNER:
        first = f"Assigned {goal.ref} {goal.title}. It waits for {result.awaiting_name} to accept it."
    else:
        first = f"Proposed {goal.ref} {goal.title}. It waits for {result.awaiting_name} to approve it."
    builder = ReplyBuilder().add(Paragraph(first))
    if result.hint:
        builder.add(Context(result.hint))
    return builder.build()


def decision(result: Decision) -> Reply:
    """The answer to whoever approved, accepted, returned or declined a goal."""
    goal = result.goal
    if result.outcome == "returned":
        return Reply.text(f"Returned {goal.ref} {goal.title}: {goal.return_reason}")
    return Reply.text(f"{result.outcome.capitalize()} {goal.ref} {goal.title}. It is active.")


def linked(result: Linked) -> Reply:
    """The answer to a link or unlink: what the goal supports now, and before."""
    goal = result.goal
    if result.parent is None:
        return Reply.text(f"{goal.ref} no longer supports {result.previous.ref} {result.previous.title}.")
    text = f"{goal.ref} {goal.title} now supports {result.parent.ref} {result.parent.title}."
    if result.previous is not None:
        text += f" (It supported {result.previous.ref} before.)"
    return Reply.text(text)


def goal_page(page: browse.GoalPage, scope_words: str) -> Reply:
    """One page of a goal list, with the way to the next."""
    builder = ReplyBuilder().add(Header(page.title))
    if not page.rows:
        return builder.add(Paragraph(page.empty_hint)).build()
    builder.add(*(goal_line(row) for row in page.rows))
    shown_to = (page.page - 1) * browse.PAGE_SIZE + len(page.rows)
    more = page.total - shown_to
    footer = f"{page.total} goal{'s' if page.total != 1 else ''}"
    if page.pages > 1:
        footer += f" · page {page.page} of {page.pages}"
    if more > 0:
        footer += f" · and {more} more: goals list {scope_words} page:{page.page + 1}".replace("  ", " ")
    return builder.add(Context(footer)).build(more=max(more, 0))


def pending(result: browse.Pending) -> Reply:
    """What waits for the viewer, each with the buttons that settle it."""
    builder = ReplyBuilder().add(Header("Waiting for you"))
    if not result.to_decide and not result.to_accept:
        return builder.add(Paragraph("Nothing is waiting for you.")).build()
    for title, rows, assigned in (("To decide", result.to_decide, False), ("To accept", result.to_accept, True)):
        if rows:
            builder.add(Paragraph(f"{title} ({len(rows)}):"))
        for row in rows:
            builder.add(goal_line(row), decision_buttons(row, assigned=assigned))
    return builder.build()


def waiting(pending_: browse.Pending, since: browse.Since) -> Reply | None:
    """What waits for someone arriving: to decide, to accept, returned to them, kudos lately; None if nothing."""
    if not (pending_.to_decide or pending_.to_accept or since.returned or since.kudos):
        return None
    builder = ReplyBuilder()
    if pending_.to_decide or pending_.to_accept:
        builder.add(*pending(pending_).blocks)
    if since.returned:
        builder.add(Paragraph(f"Returned to you ({len(since.returned)}): change and resend, goals resubmit G-<n>:"),
                    *(goal_line(row) for row in since.returned))
    if since.kudos:
        builder.add(Paragraph("Kudos this week: " + "; ".join(f"from {name}: {message}" for name, message in since.kudos)))
    return builder.build()


CHAT_EXPORT_LIMIT = 2500  # characters of JSON a chat message carries; more is written by the command line


def person_export(email: str, document: dict) -> Reply:
    """What goalbot holds about someone, in chat: what there is, table by table, and the document when short."""
    import json

    counts = [(name, f"{len(rows)} row{'s' if len(rows) != 1 else ''}") for name, rows in document.items()
              if isinstance(rows, list)]
    builder = ReplyBuilder().add(Header(f"What goalbot holds about {email}"), Fields((("profile", "1"), *counts)))
    text = json.dumps(document, ensure_ascii=False, default=str)
    if len(text) <= CHAT_EXPORT_LIMIT:
        builder.add(Paragraph(text))
    else:
        builder.add(Context(f"Too long for a chat message: goalbot person export {email} --out {email}.json writes it whole."))
    return builder.build()


def erase_confirm(email: str) -> Reply:
    return Reply.text(f"This erases {email}: their chat accounts, profile and check-in answers go, and their goals and "
                      f"history stay under the name \u201cErased person\u201d. It cannot be undone. "
                      f"Say goals admin person erase {email} confirm.")


def erased(email: str) -> Reply:
    return Reply.text(f"Erased {email}: their goals and history now name \u201cErased person\u201d.")


def tree(result: browse.GoalTree) -> Reply:
    """A goal and everything under it (or the whole tree), indented by depth."""
    builder = ReplyBuilder()
    if result.root is not None:
        builder.add(Header(f"{result.root.ref} {result.root.title}"), goal_line(result.root))
    else:
        builder.add(Header("Goal tree"))
    if not result.rows:
        builder.add(Paragraph("No goals support it yet." if result.root else "There are no goals yet."))
        return builder.build()
    builder.add(*(goal_line(row) for row in result.rows))
    more = result.total - len(result.rows)
    if more > 0:
        builder.add(Context(f"and {more} more goals: say goals tree G-<n> for one branch"))
    return builder.build(more=max(more, 0))


def detail(info: browse.GoalDetail, link: Link | None = None) -> Reply:
    """Everything `goals show` says about one goal, with a link to it on the goal map."""
    builder = _detail(info)
    goal = info.goal
    if info.may_change and goal.status in (Status.PROPOSED, Status.ACTIVE, Status.RETURNED):
        builder.add(Buttons((Button("Edit", Do.EDIT, goal.ref, f"goals edit {goal.ref}"),)))
    if goal.status == Status.PROPOSED:
        builder.add(decision_buttons(goal, assigned=goal.awaiting == Awaiting.OWNER))
    if link is not None:
        builder.add(link)
    return builder.build()


def map_panel(info: browse.GoalDetail, checkins: list) -> Reply:
    """A goal in full as the goal map's panel shows it: what `goals show` says, and its latest check-ins."""
    builder = _detail(info, history_apart=True)
    if checkins:
        builder.add(Divider(), Header("Latest check-ins"))
        builder.add(Paragraph("\n".join(checkin_line(info.goal, line) for line in checkins)))
    goal = info.goal
    if info.may_change and goal.status in (Status.PROPOSED, Status.ACTIVE, Status.RETURNED):
        # Progress comes from key results, else from the supporting goals, else by hand: say what works.
        if info.key_results:
            update = f"goals kr {goal.ref}.1 <value>, goals progress {goal.ref} <health> [note]"
        elif info.children:
            update = f"goals progress {goal.ref} <health> [note]"
        else:
            update = f"goals progress {goal.ref} <percent> [health] [note]"
        builder.add(Context(f"Change it in chat: {update}, goals edit {goal.ref}"))
    return builder.build()


def checkin_line(goal: Goal, line) -> str:
    """One update from a check-in or a progress report: `2026-12-01 Ana Ruiz: 60%, at risk, "waiting on legal"`."""
    after = line.after
    if line.action == "achieved":
        said = ["achieved"]
    elif line.action == "key result updated":
        said = [f"{goal.ref}.{after.get('key_result')} now {number(after['current'])}" if "current" in after
                else "key result updated"]
    else:
        said = []
        if after.get("progress") is not None:
            said.append(f"{percent(after['progress'])}%")
        if "health" in after:
            said.append(health_word(after["health"]))
        if after.get("note"):
            said.append(f"note: {after['note']}")
        said = said or ["no change"]
    return f"{line.at:%Y-%m-%d} {line.who}: {', '.join(said)}"


MAP_LABELS = {
    "all": "Open the goal map", "goal": "Open it on the goal map", "unit": "Open the unit's map",
    "mine": "Open my goals", "team": "Open your team's map",
}


def map_link(link: Link, words: str, lifetime: str) -> Reply:
    """The answer to `goals map`: the link, whose it is and how long it works."""
    return Reply(blocks=(
        Paragraph(f"The goal map of {words}, showing what you may see. The link is for you alone and works for "
                  f"{lifetime}; goals map gives you a new one."),
        link,
    ))


def _detail(info: browse.GoalDetail, *, history_apart: bool = False) -> ReplyBuilder:
    goal = info.goal
    fields = [
        ("Status", goal.status + (f" (waiting for the {goal.awaiting})" if goal.awaiting else "")),
        ("Health", health_word(goal.health)),
        ("Owner", info.owner or "nobody"),
        ("Level", goal.level),
        ("Due", goal.due_date.isoformat() if goal.due_date else "no due date"),
        ("Category", goal.category),
    ]
    if info.ancestors:
        fields.append(("Supports", " → ".join(
            "a private goal" if g is None else f"{g.ref} {g.title}" + (" (archived)" if g.status == Status.ARCHIVED else "")
            for g in info.ancestors)))
        if info.ancestors[0] is not None and info.ancestors[0].status == Status.ARCHIVED:
            fields.append(("Relink", f"{info.ancestors[0].ref} is archived: goals link {goal.ref} G-<n>"))
    elif goal.category in STANDALONE:  # development and personal goals may well stand alone
        fields.append(("Supports", f"nothing (a {goal.category} goal may stand alone)"))
    elif goal.level != "company":  # a company goal is the top: it supports nothing by nature
        fields.append(("Supports", "nothing yet (not aligned)"))
    if goal.private:
        fields.append(("Privacy", "private: the owner, their managers and admins"))
    builder = ReplyBuilder().add(
        Header(f"{goal.ref} {goal.title}"),
        ProgressLine(ref=goal.ref, label="Progress", percent=goal.progress, health=goal.health),
        Fields(tuple(fields)),
    )
    if goal.description:
        builder.add(Paragraph(goal.description))
    if goal.return_reason and goal.status == Status.RETURNED:
        builder.add(Paragraph(f"Returned: {goal.return_reason}"))
    if goal.note:
        builder.add(Paragraph(f"Latest note: {goal.note}"))
    if info.key_results:
        builder.add(Divider(), Header("Key results"))
        builder.add(*(key_result_line(goal, kr) for kr in info.key_results))
    if info.milestones:
        builder.add(Divider(), Header("Milestones"))
        builder.add(Paragraph("\n".join(milestone_line(m) for m in info.milestones)))
    if info.children:
        builder.add(Divider(), Header("Supported by"))
        builder.add(*(goal_line(row) for row in info.children))
    if info.history:
        lines = [f"{event.at:%Y-%m-%d %H:%M} {name}: {EVENT_WORDS.get(event.action, event.action)}" + (
            " " + ", ".join(dict.fromkeys(field_name(field) for field in event.after)) if event.action == "edited" else "")
            for event, name in info.history]
        # In chat one line of small print; on the map's panel, a line each.
        builder.add(Divider(), *((Header("History"), Paragraph("\n".join(lines))) if history_apart
                                 else (Context("History: " + "; ".join(lines)),)))
    return builder


EVENT_WORDS = {"rollup": "progress worked out again"}  # from its key results or the goals that support it


def decision_buttons(goal: Goal | browse.GoalRow, *, assigned: bool) -> Buttons:
    """Approve and Return for a proposal; Accept and Decline, in those words, for a goal assigned."""
    yes, no = ("accept", "decline") if assigned else ("approve", "return")
    return Buttons((
        Button(yes.capitalize(), Do.APPROVE, goal.ref, f"goals {yes} {goal.ref}", "primary"),
        Button(no.capitalize(), Do.RETURN, goal.ref, f"goals {no} {goal.ref} <reason>", "danger"),
    ))


def key_result_line(goal: Goal, kr: KeyResult) -> ProgressLine:
    """A key result as a progress line: its metric, from start to target."""
    return ProgressLine(ref=f"{goal.ref}.{kr.position}", label=kr.metric, percent=kr.progress, detail=kr_values(kr))


def kr_values(kr: KeyResult) -> str:
    """Where a key result stands and where it goes: `28 %, from 40 to 20 %`."""
    unit = f" {kr.unit}" if kr.unit else ""
    return f"{number(kr.current)}{unit}, from {number(kr.start)} to {number(kr.target)}{unit}"


def milestone_line(m: Milestone) -> str:
    """A milestone in one line: open or done, and when it is due."""
    mark = "done" if m.done_at else "open"
    due = f", due {m.due_date}" if m.due_date else ""
    return f"{m.position}. {m.title} ({mark}{due})"


def progress_update(goal: Goal, told: list[str] | None = None) -> Reply:
    """The answer to a progress update: the goal now, its health and its note, and who heard of a blocker."""
    parts = [f"{goal.ref} {goal.title}: {percent(goal.progress)}%, {health_word(goal.health)}."]
    if goal.note:
        parts.append(f"Note: {goal.note}")
    builder = ReplyBuilder().add(
        Paragraph(" ".join(parts)),
        ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, health=goal.health),
    )
    if told:
        builder.add(told_line(goal.ref, goal.health == Health.BLOCKED, told))
    return builder.build()


def key_result_saved(goal: Goal, kr: KeyResult, added: bool, *, changed: bool = False,
                     share: float | None = None) -> Reply:
    """The answer to adding, updating or changing a key result (`share`: set as that % of the way)."""
    ref = f"{goal.ref}.{kr.position}"
    if added:
        first = f"Added key result {ref} to {goal.ref}."
    elif changed:
        first = f"Changed {ref}: {kr.metric}, from {number(kr.start)} to {number(kr.target)}{' ' + kr.unit if kr.unit else ''}."
    elif share is not None:
        unit = f" {kr.unit}" if kr.unit else ""
        first = (f"Updated {ref} to {number(share)}% of the way from {number(kr.start)} to {number(kr.target)}: "
                 f"{number(kr.current)}{unit}.")
    else:
        first = f"Updated {ref}."
    return ReplyBuilder().add(
        Paragraph(f"{first} {goal.ref} is now at {percent(goal.progress)}%."),
        key_result_line(goal, kr),
    ).build()


def milestone_saved(goal: Goal, m: Milestone) -> Reply:
    """The answer to adding a milestone."""
    return Reply.text(f"Added milestone {m.position} to {goal.ref}: {milestone_line(m)}")


def milestone_changed(goal: Goal, m: Milestone, done: bool) -> Reply:
    if done:
        return Reply.text(f"Milestone {m.position} of {goal.ref} is done: {milestone_line(m)}")
    return Reply.text(f"Removed milestone {m.position} of {goal.ref}: {m.title}.")


def key_result_removed(goal: Goal, position: int) -> Reply:
    return ReplyBuilder().add(
        Paragraph(f"Removed {goal.ref}.{position}. {goal.ref} is now at {percent(goal.progress)}%."),
        ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, health=goal.health),
    ).build()


FIELD_NAMES = {"due_date": "due", "start_date": "start", "private": "privacy", "owner_person_id": "owner", "owner_unit_id": "owner",
               "parent_id": "parent", "return_reason": "return reason"}


def field_name(field: str) -> str:
    return FIELD_NAMES.get(field, field)


def _shown(field: str, value) -> str:
    if value is None or value == "":
        return "none"
    if field == "private":
        return "private" if value else "public"
    if field in ("title", "description"):
        return f"\u201c{value}\u201d"
    return str(value)


def _changes(changes) -> str:
    """Fields that changed, each as `title “A” → “B”`, separated by `; `."""
    return "; ".join(f"{field_name(field)} {_shown(field, before)} \u2192 {_shown(field, after)}"
                     for field, before, after in changes)


def edited(result: Edited) -> Reply:
    """The answer to an edit: each field that changed, from what to what."""
    goal = result.goal
    after = snapshot(goal)
    changes = [_changes([(field, result.before[field], after[field])])
               for field in result.changed if field not in ("owner_person_id", "owner_unit_id")]
    if "owner_unit_id" in result.changed:
        changes.append("now owned by its unit")
    return ReplyBuilder().add(
        Paragraph(f"Changed {goal.ref}: " + "; ".join(dict.fromkeys(changes)) + "."),
        ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, health=goal.health),
    ).build()


def edit_command(goal: Goal) -> str:
    """The edit that would leave the goal as it is: every field, to change the ones wanted."""
    parts = [f"goals edit {goal.ref}", f'title:"{goal.title}"', f"due:{goal.due_date or 'none'}"]
    if goal.start_date:
        parts.append(f"start:{goal.start_date}")
    parts += [f"category:{goal.category}", f"level:{goal.level}", "private" if goal.private else "public"]
    if goal.description:
        parts.append(f'description:"{goal.description}"')
    return " ".join(parts)


def edit_values(goal: Goal) -> dict[str, str]:
    """A goal's edit form, filled in: each field as text."""
    return {"ref": goal.ref, "title": goal.title, "due": goal.due_date.isoformat() if goal.due_date else "",
            "start": goal.start_date.isoformat() if goal.start_date else "", "category": goal.category,
            "level": goal.level, "private": "true" if goal.private else "", "description": goal.description or ""}


def edit_form(goal: Goal) -> Reply:
    """`goals edit G-12` alone: the goal as it stands, and the edit that changes it."""
    return ReplyBuilder().add(
        Header(f"Edit {goal.ref} {goal.title}"),
        Paragraph("Give the fields to change and leave out the rest; this one changes nothing yet:"),
        Paragraph(edit_command(goal)),
    ).build()


def archived(goal: Goal, supporters: list[Goal]) -> Reply:
    """The answer to archiving: and the goals that support it, which stay, to be linked elsewhere."""
    text = f"{goal.ref} {goal.title} is archived."
    if supporters:
        refs = ", ".join(g.ref for g in supporters)
        text += (f" {len(supporters)} {'goal supports' if len(supporters) == 1 else 'goals support'} it ({refs}): "
                 f"they stay, marked as supporting an archived goal. Link them elsewhere: goals link {supporters[0].ref} "
                 f"G-<n>; or bring {goal.ref} back: goals reopen {goal.ref}.")
    return Reply.text(text)


def reopened(goal: Goal) -> Reply:
    waiting = " It waits for its decision again." if goal.status == Status.PROPOSED else ""
    return Reply.text(f"{goal.ref} {goal.title} is {goal.status} again, at {percent(goal.progress)}%.{waiting}")


def resubmitted(result) -> Reply:
    goal = result.goal
    who = result.decider.name if result.decider is not None else "its decider"
    changed = _changes(result.changes)
    text = f"Sent {goal.ref} {goal.title} to {who} again" + (f", with these changes: {changed}." if changed else
                                                          ", unchanged (goals edit changes it first).")
    return Reply.text(text)


def resubmission(result, sender: Person, parent: Goal | None) -> Reply:
    """The request a resubmitted goal brings its decider: what they said, what changed, the buttons."""
    request = approval_request(result.goal, sender, parent)
    changed = _changes(result.changes)
    lines = [f"Sent again after you returned it (\u201c{result.reason}\u201d)." if result.reason else "Sent again.",
             f"Changed: {changed}." if changed else "Nothing changed since."]
    if result.note:
        lines.append(f"{sender.name} says: {result.note}")
    blocks = list(request.blocks)
    blocks[1:1] = [Paragraph(" ".join(lines))]
    return Reply(blocks=tuple(blocks))


def withdrawn(result) -> Reply:
    goal = result.goal
    if result.deleted:
        return Reply.text(f"Withdrew {goal.ref} {goal.title}: it is deleted.")
    return Reply.text(f"{goal.ref} {goal.title} had gone further than a proposal (approved, a key result moved, "
                      f"or goals supporting it), so it is archived instead of deleted. goals reopen {goal.ref} brings it back.")


def status_changed(goal: Goal) -> Reply:
    """The answer to marking a goal done or archiving it."""
    words = {"achieved": "is achieved. Well done!", "archived": "is archived."}
    return Reply.text(f"{goal.ref} {goal.title} {words.get(goal.status, goal.status)}")


def kudos(given: Kudos, giver: Person, receiver: Person, goal: Goal | None) -> Reply:
    """Kudos, the same words for the giver, the receiver and the conversation (shared)."""
    about = f" for {goal.ref} {goal.title}" if goal else ""
    return Reply(
        blocks=(Paragraph(f"Kudos to {receiver.name} from {giver.name}{about}: {given.message}"),),
        shared=True,
    )


def checkin_settings(person: Person, plan: schedule.Schedule, source: str, next_at, *, changed: bool = False) -> Reply:
    """A person's check-in schedule (and where it comes from), their next prompt, time zone and time away;
    after a change, first what it now is."""
    away = f"away until {person.away_until}" if person.away_until else "not away"
    rhythm = "off (goals settings checkin on to turn them back on)" if person.checkins_off else f"{plan.describe()} ({source})"
    following = next_prompt_words(person, as_utc(next_at)) if next_at is not None else "none"
    builder = ReplyBuilder()
    if changed:
        now = "off" if person.checkins_off else f"{plan.describe()}, {person.timezone} time"
        builder.add(Paragraph(f"Saved. Your check-ins are now {now}."))
    return builder.add(
        Header("Your settings"),
        Fields((
            ("Check-in", rhythm),
            ("Next prompt", following),
            ("Digest", _digest_words(person)),
            ("Nudges", "off (goals settings nudges on)" if person.nudges_off
             else "on: about your goals that support nothing or have had no update for two check-ins"),
            ("Time zone", person.timezone),
            ("Away", away),
        )),
    ).build()


def _digest_words(person: Person) -> str:
    from bot import digest

    return digest.describe(person) + ("" if person.digests_off else " (for people with reports)")


def checkin_default(plan: schedule.Schedule, scope: str) -> Reply:
    """An admin set a default schedule."""
    return Reply.text(f"Check-ins for {scope} are now {plan.describe()}, for everyone who has not set their own. "
                      "Each person's next prompt follows it.")


def reminder_setting(minutes: int) -> Reply:
    if not minutes:
        return Reply.text("No more check-in reminders.")
    hours, rest = divmod(minutes, 60)
    delay = " ".join(part for part in (f"{hours} h" if hours else "", f"{rest} min" if rest else "") if part)
    return Reply.text(f"Those who have not answered are reminded once, {delay} after their prompt, within their working day.")


def holidays(op: str, day, found: list, renamed: bool = False) -> Reply:
    """The tenant's holidays, after a change."""
    first = {"add": f"{day} was a holiday already; it is now called {next((h.name for h in found if h.day == day), '')}."
             if renamed else f"Added the holiday {day}: nobody is asked to check in that day.",
             "remove": f"{day} is no longer a holiday.", "list": "Holidays"}[op]
    builder = ReplyBuilder().add(Paragraph(first) if op != "list" else Header(first))
    if found:
        builder.add(Fields(tuple((str(h.day), h.name or "holiday") for h in found)))
    else:
        builder.add(Context("No holidays set. Add one: goals admin holiday add 2027-12-25 Christmas Day"))
    return builder.build()


def outbox_report(report) -> Reply:
    """Messages by kind and state, and the latest failures with their reasons."""
    builder = ReplyBuilder().add(Header("Outbox"))
    if report.counts:
        builder.add(Fields(tuple((f"{kind} {state}", str(count)) for kind, state, count in report.counts)))
    else:
        builder.add(Paragraph("The outbox is empty: no message has been owed to anyone yet."))
    for row, to in report.failures:
        builder.add(Paragraph(f"#{row.id} {row.kind} to {to}, {row.state}: {row.last_error or 'no reason kept'}"))
    if report.failures:
        builder.add(Context("Send one again: goals admin outbox retry <id>"))
    if report.waiting:
        builder.add(Header("Waiting for someone to open goalbot"))
    for row, to in report.waiting:
        reason = (row.last_error or "").removeprefix("unreachable: ")
        builder.add(Paragraph(f"#{row.id} {row.kind} to {to}: {reason}"))
    return builder.build()


def outbox_retried(row) -> Reply:
    return Reply.text(f"Message #{row.id} ({row.kind}) will be sent again now.")


def away(person: Person, before: date | None) -> Reply:
    """The answer to going away or coming back, saying what that does to the person's check-in prompts."""
    off = " Your check-in prompts are off, too: goals settings checkin on starts them again." if person.checkins_off else ""
    if person.away_until:
        until = person.away_until
        return Reply.text(f"Enjoy your time off. No check-in prompts through {until:%A} {until}; "
                          f"they come again after it.{off}")
    if before is None:
        return Reply.text("You were not away." + (off or " Your check-in prompts are on."))
    return Reply.text("Welcome back." + (off or " Check-in prompts are on again."))


def next_prompt_words(person: Person, instant) -> str:
    """`Monday 2027-03-08 09:00 America/New_York`: when the person's next prompt comes, in their zone."""
    return schedule.describe_instant(instant, schedule.zone_of(person.timezone))


@dataclass(frozen=True)
class PromptKeyResult:
    position: int
    metric: str
    start: float
    current: float
    target: float
    unit: str
    progress: float


@dataclass(frozen=True)
class PromptGoal:
    """A goal as a check-in prompt shows it (plain values, so a round can build thousands at once)."""

    number: int
    title: str
    progress: float
    health: str | None
    note: str
    key_results: tuple[PromptKeyResult, ...] = ()

    @classmethod
    def of(cls, goal: Goal, key_results: list[KeyResult]) -> PromptGoal:
        return cls(goal.number, goal.title, goal.progress, goal.health, goal.note, tuple(
            PromptKeyResult(kr.position, kr.metric, kr.start, kr.current, kr.target, kr.unit, kr.progress)
            for kr in key_results))


HEALTH_BUTTONS = ((Health.ON_TRACK, "On track"), (Health.AT_RISK, "At risk"), (Health.OFF_TRACK, "Off track"),
                  (Health.BLOCKED, "Blocked"))


def answer_example(goals: list[PromptGoal]) -> str:
    """The hint line, with the person's own references."""
    if not goals:
        return "Reply in one message, e.g. G-12 60% at risk waiting on legal; G-14 done"
    first = goals[0]
    if first.key_results:
        parts = [f"G-{first.number}.{first.key_results[0].position} {number(first.key_results[0].current)}",
                 f"G-{first.number} at risk waiting on legal"]
    else:
        parts = [f"G-{first.number} 60% at risk waiting on legal"]
    if len(goals) > 1:
        parts.append(f"G-{goals[1].number} done")
    return "Reply in one message, e.g. " + "; ".join(parts)


def checkin_prompt(start, goals: list[PromptGoal], *, invite: list[tuple[str, str]] = (), reminder: bool = False,
                   answered_at=None, away_until=None) -> Reply:
    """A check-in prompt (or its reminder): each active goal with its progress, health, latest note and key
    results, one-click health buttons per goal, a button for the form, and how to answer in one message.
    Someone with no active goal is invited to propose one, with goals of their team they could support."""
    title = f"Check-in for the week of {start}"
    builder = ReplyBuilder().add(Header(("Reminder: " if reminder else "") + title))
    if away_until is not None:
        builder.add(Context(f"You are away until {away_until}; no answer is expected."))
    if not goals:
        builder.add(Paragraph("You have no active goals to report on. Propose one: goals add <title> parent:G-<n>"))
        if invite:
            builder.add(Context("Your team's goals you could support:"))
            builder.add(*(Paragraph(f"{ref} {label}") for ref, label in invite))
        return builder.build()
    for goal in goals:
        ref = f"G-{goal.number}"
        builder.add(ProgressLine(ref=ref, label=goal.title, percent=goal.progress, health=goal.health,
                                 detail=f"last note: {goal.note}" if goal.note else ""))
        for kr in goal.key_results:
            builder.add(ProgressLine(ref=f"{ref}.{kr.position}", label=kr.metric, percent=kr.progress, depth=1,
                                     detail=kr_values(kr)))
        builder.add(Buttons(tuple(
            Button(label, Do.SET_HEALTH, f"{ref} {health.value}", f"checkin {ref} {health.words}")
            for health, label in HEALTH_BUTTONS
        )))
    builder.add(Buttons((Button("Update numbers and notes", Do.OPEN_CHECKIN, "", "checkin", "primary"),)))
    if answered_at is not None:
        builder.add(Context(f"You answered at {answered_at:%Y-%m-%d %H:%M} UTC; answering again corrects it."))
    builder.add(Context(answer_example(goals)))
    return builder.build()


def checkin_state(current, key_results: dict[int, list[KeyResult]]) -> Reply:
    """`checkin` alone: the current period's prompt, now."""
    goals = [PromptGoal.of(goal, key_results.get(goal.id, [])) for goal in current.goals]
    return checkin_prompt(current.period.start, goals, answered_at=current.answer.updated_at if current.answer else None,
                          away_until=current.person.away_until if current.away else None)


def which_goal(goals: list[Goal], text: str) -> Reply:
    """A reply to a prompt that named no goal, when there are several: the words are kept until they say which."""
    return ReplyBuilder().add(
        Paragraph(f"Which goal is that about? Reply with its reference and I will add your words to it: "
                  f"{text if len(text) <= 200 else text[:199] + '…'}"),
        Buttons(tuple(Button(f"{goal.ref} {goal.title}"[:75], Do.PICK_GOAL, goal.ref, goal.ref) for goal in goals[:5])),
        Context("Or name the goal in the message itself, e.g. " + f"{goals[0].ref} 60% on track"),
    ).build()


def blocker_notice(goal: Goal, owner: Person, note: str) -> Reply:
    """What the parent goal's owner and the manager are told when a goal is blocked."""
    about = f": {note}" if note else ""
    return ReplyBuilder().add(
        Header(f"{goal.ref} is blocked"),
        Paragraph(f"{owner.name} says {goal.ref} {goal.title} is blocked{about}"),
        Context(f"See it: goals show {goal.ref}"),
    ).build()


def blocker_cleared(goal: Goal, owner: Person) -> Reply:
    return Reply.text(f"{goal.ref} {goal.title} is no longer blocked ({owner.name} says it is "
                      f"{health_word(goal.health)}).")


def told_line(ref: str, blocked: bool, names: list[str]) -> Context:
    """Who hears about a blocker (or that it cleared): their message is on its way (the outbox has it)."""
    what = "is blocked" if blocked else "is no longer blocked"
    return Context(f"Letting {' and '.join(names)} know that {ref} {what}.")


def checkin_recorded(current, updated: list[Goal], told: dict[str, list[str]] | None = None) -> Reply:
    """The answer to a check-in: what was saved, who was told of a blocker, and when the next one comes."""
    builder = ReplyBuilder().add(
        Paragraph(f"Thanks, your check-in for the week of {current.period.start} is in. "
                  + (f"Next one: {next_prompt_words(current.person, current.period.next_at)}."
                     if current.period.next_at else "Check-in prompts are off."))
    )
    for goal in updated:
        builder.add(ProgressLine(ref=goal.ref, label=goal.title, percent=goal.progress, health=goal.health,
                                 detail="achieved" if goal.status == Status.ACHIEVED else (f"note: {goal.note}" if goal.note else "")))
    for ref, names in (told or {}).items():
        if names:
            goal = next(g for g in updated if g.ref == ref)
            builder.add(told_line(ref, goal.health == Health.BLOCKED, names))
    return builder.build()


def approval_request(goal: Goal, proposer: Person, parent: Goal | None) -> Reply:
    """The message that asks a manager (or an assignee) to decide, with the buttons to do it."""
    assigned = goal.awaiting == Awaiting.OWNER
    verb = "assigned you" if assigned else "proposed"
    fields = [("Level", goal.level), ("Supports", f"{parent.ref} {parent.title}" if parent else "nothing yet")]
    if goal.due_date:
        fields.append(("Due", str(goal.due_date)))
    if goal.private:
        fields.append(("Visibility", "private"))
    return ReplyBuilder().add(
        Header("A goal for you to accept" if assigned else "A goal to approve"),
        Paragraph(f"{proposer.name} {verb} {goal.ref} {goal.title}"),
        Fields(tuple(fields)),
        decision_buttons(goal, assigned=assigned),
    ).build()


def decision_outcome(goal: Goal, outcome: str, decider: Person) -> Reply:
    """What an approval request turns into once it is decided."""
    if outcome == "returned":
        text = f"{goal.ref} {goal.title} was returned by {decider.name}: {goal.return_reason}"
    else:
        text = f"{goal.ref} {goal.title} was {outcome} by {decider.name}. It is active."
    return ReplyBuilder().add(Paragraph(text)).build()


def decision_notice(goal: Goal, outcome: str, decider: Person) -> Reply:
    """The proposer's (or assigner's) news."""
    if outcome == "returned":
        text = (f"{decider.name} returned your goal {goal.ref} {goal.title}: {goal.return_reason}. "
                f"Change it (goals edit {goal.ref} title:\"...\" due:...) and send it again: goals resubmit {goal.ref}; "
                f"or take it back: goals withdraw {goal.ref}")
    else:
        text = f"{decider.name} {outcome} {goal.ref} {goal.title}. It is active."
    return ReplyBuilder().add(Paragraph(text)).build()


def welcome(person: Person) -> Reply:
    """The first message after someone installs goalbot."""
    first = person.name.split()[0] if person.name else "there"
    return ReplyBuilder().add(
        Header(f"Hi {first}, I'm goalbot"),
        Paragraph("I keep your goals lined up with your team's and the company's, and keep them alive with a "
                  "short check-in each week. Write to me here, in plain words:"),
        Fields((
            ("add <title> parent:G-3 due:2027-03-31", "propose a goal (add alone opens a form)"),
            ("list", "your goals, with progress"),
            ("checkin", "answer this week's check-in"),
            ("map mine", "your goals on the goal map, where they fit in the company's"),
            ("help", "every command"),
        )),
        Buttons((Button("Check in", Do.OPEN_CHECKIN, "", "checkin", "primary"),)),
    ).build()


def nudge(manager: Person, period) -> Reply:
    """What a report is sent when their manager asks them to check in."""
    return ReplyBuilder().add(
        Paragraph(f"{manager.name} asks you to check in for the week of {period}."),
        Context("Reply in one message, e.g. G-12 60% at risk waiting on legal; G-14 done"),
        Buttons((Button("Check in", Do.OPEN_CHECKIN, "", "checkin", "primary"),)),
    ).build()


def nudged(person: Person) -> Reply:
    return Reply.text(f"Asked {person.name} to check in.")


def digest_settings(person: Person, has_reports: bool) -> Reply:
    """A changed digest: what it now is, and when nobody reports to the person yet, that none comes until then."""
    from bot import digest

    text = f"Saved. Your digest is now {digest.describe(person)}."
    if not has_reports:
        text += " Nobody reports to you yet: the digest comes once someone does."
    return Reply.text(text)


def alignment_report(title: str, rows) -> Reply:
    """The organisation's (or a unit's) alignment, one line per department (or unit inside), against last week."""
    def rate(value) -> str:
        return "no data" if value is None else f"{value:.0f}%"

    def was(last, key: str) -> str:
        return f" (last week {rate(last[key])})" if last and key in last else ""

    builder = ReplyBuilder().add(Header(f"Alignment: {title}"))
    for row in rows:
        f, last = row.figures, row.last
        builder.add(Fields((
            (row.name, f"aligned {rate(f.alignment_rate)}{was(last, 'alignment_rate')}, "
                       f"linked to a team goal {rate(f.individual_rate)}{was(last, 'individual_rate')}, "
                       + (f"checked in {rate(f.response_rate)}{was(last, 'response_rate')}; " if f.asked
                          else f"nobody asked to check in this week{was(last, 'response_rate')}; ")
                       + f"{len(f.at_risk)} at risk or off track, {len(f.blockers)} blocked, {len(f.stale)} stale, "
                       f"{len(f.unaligned)} not aligned, {len(f.overdue)} overdue"),
        )))
    if len(rows) == 1:
        builder.add(Context("No units inside it. The organisation's departments: goals admin alignment"))
    if not any(row.last for row in rows):
        builder.add(Context("Nothing to compare with yet: each week's figures are kept when the week ends "
                            "(the clock's first round after Monday 00:00 UTC) and shown beside this week's from then on."))
    return builder.build()
