"""The core's replies as Adaptive Cards (schema 1.5), inside Teams' size limit, every user string escaped.

Teams renders a subset of Markdown in TextBlock and in fact titles and values, and
expands `{{DATE(…)}}` and `{{TIME(…)}}` there. A person's words must show as typed,
so every string from the core is escaped for both before it goes into a card; the
card's own emphasis (a bold reference, say) is added around the escaped text.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

from bot.commands import FORM_KEY_RESULTS, MAX_DESCRIPTION, MAX_NOTE, MAX_TITLE
from bot.messages import Button, Buttons, Context, Divider, Do, Fields, Header, Link, Paragraph, ProgressLine, Reply, Usage
from storage.vocabulary import Category, Health, Level

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams takes about 100 KB per message, counted in UTF-16, and asks bots to stay within 80 KB.
MAX_CARD_CHARS = 36_000
MAX_ACTIONS = 6
ACTION = "goalbot"  # the key of Action.Submit data that names the core action
FORM_ERROR = ""  # the errors key of a problem with the whole form rather than one field
HEALTH_MARKS = {Health.ON_TRACK: "🟢", Health.AT_RISK: "🟡", Health.OFF_TRACK: "🔴", Health.BLOCKED: "⛔"}
LEVELS = tuple((level.value, level.label) for level in reversed(Level))

# Inline Markdown that Teams acts on anywhere in a line, and what starts a heading, quote or list.
_INLINE = re.compile(r"([\\`*_~\[\]()<>&|{}])")
_LINE_START = re.compile(r"^(\s*)([#+\-=]|\d+(?=[.)]))", re.MULTILINE)
# Teams' date and time functions, `{{DATE(…)}}`: a zero-width space between the braces disarms them.
_FUNCTION = re.compile(r"\{(?=\{)")


def escape(text: str) -> str:
    """Plain text that Teams shows as typed in a TextBlock or a fact."""
    text = _FUNCTION.sub("{\u200b", text)
    text = _INLINE.sub(r"\\\1", text)
    # "- x", "# x" or "1. x" at the start of a line would become a list or a heading.
    return _LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2)}\\" if m.group(2)[0].isdigit()
                           else f"{m.group(1)}\\{m.group(2)}", text)


def _text(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": text or " ", "wrap": True, **style}


def progress_element(line: ProgressLine) -> dict:
    indent = "\u00a0" * 4 * min(line.depth, 6) + ("↳ " if line.depth else "")
    parts = line.parts(line.bar(), HEALTH_MARKS, escape)
    return {
        "type": "Container",
        "spacing": "Small",
        "items": [
            _text(f"{indent}**{escape(line.ref)}** {escape(line.label)}"),
            _text(f"{indent}{' · '.join(parts)}", spacing="None", isSubtle=True),
        ],
    }


def submit(title: str, action: str, value: str = "", *, style: str = "default", extra: dict | None = None) -> dict:
    """An Action.Submit whose data names a core action; Teams sends it back as the message's value."""
    element = {"type": "Action.Submit", "title": title[:80], "data": {ACTION: action, "value": value[:200], **(extra or {})}}
    if style == "primary":
        element["style"] = "positive"
    elif style == "danger":
        element["style"] = "destructive"
    return element


def return_action(button: Button) -> dict:
    """Return (or decline) asks for a reason first, inside the card."""
    return {
        "type": "Action.ShowCard",
        "title": button.label[:80],
        "card": {
            "type": "AdaptiveCard",
            "body": [{
                "type": "Input.Text", "id": "reason", "label": "Reason", "isMultiline": True, "isRequired": True,
                "maxLength": MAX_NOTE, "errorMessage": "Say what would make it ready.",
                "placeholder": "What would make it ready to approve?",
            }],
            "actions": [submit(button.label, Do.RETURN.value, button.value, style="danger")],
        },
    }


def action_for(button: Button) -> dict:
    if button.action == Do.RETURN:
        return return_action(button)
    return submit(button.label, button.action, button.value, style=button.style)


MAP_TAB = "goalmap"  # the entityId of the app's map tab (adapters.teams.package)


def tab_link(app_id: str, link: Link) -> str:
    """A Teams deep link that opens the app's map tab with the link's token, so the map opens inside Teams."""
    context = json.dumps({"subEntityId": link.tab}, separators=(",", ":"))
    query = urlencode({"webUrl": link.url, "label": link.label, "context": context}, quote_via=quote)
    return f"https://teams.microsoft.com/l/entity/{quote(app_id.lower(), safe='')}/{MAP_TAB}?{query}"


def link_actions(link: Link, app_id: str) -> dict:
    """A link as buttons: in the app's tab, when the app is known, and in the browser."""
    actions = []
    if app_id and link.tab:
        actions.append({"type": "Action.OpenUrl", "title": link.label[:80], "url": tab_link(app_id, link)})
    actions.append({"type": "Action.OpenUrl", "title": "Open in the browser" if actions else link.label[:80],
                    "url": link.url})
    return {"type": "ActionSet", "actions": actions}


def _elements(block, error: bool, app_id: str = "") -> list[dict]:
    match block:
        case Header(text):
            return [_text(escape(text), size="Medium", weight="Bolder")]
        case Paragraph(text):
            if error:
                return [_text("⚠️ " + escape(text), color="Attention")]
            return [_text(escape(text))]
        case Context(text):
            return [_text(escape(text), isSubtle=True, size="Small")]
        case Usage(command):
            return [_text("Try: " + escape(command), isSubtle=True, size="Small", fontType="Monospace")]
        case Fields(pairs):
            return [{"type": "FactSet", "facts": [{"title": escape(k), "value": escape(v)} for k, v in pairs]}]
        case ProgressLine():
            return [progress_element(block)]
        case Buttons(buttons):
            return [{"type": "ActionSet", "actions": [action_for(b) for b in buttons[:MAX_ACTIONS]]}]
        case Divider():
            return []
        case Link():
            return [link_actions(block, app_id)]
    raise AssertionError(f"unknown block {block!r}")


def body(reply: Reply, app_id: str = "") -> tuple[list[dict], list[int]]:
    """The card body, and for each element the index of the block it came from."""
    elements: list[dict] = []
    sources: list[int] = []
    separate = False
    for index, block in enumerate(reply.blocks):
        if isinstance(block, Divider):
            separate = True
            continue
        for element in _elements(block, reply.error, app_id):
            if separate:
                element["separator"] = True
                separate = False
            elements.append(element)
            sources.append(index)
    return elements, sources


def card(elements: list[dict], actions: list[dict] | None = None) -> dict:
    content: dict = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": elements or [_text(" ")]}
    if actions:
        content["actions"] = actions
    content["msteams"] = {"width": "Full"}
    return content


def size(content: dict) -> int:
    return len(json.dumps(content, ensure_ascii=False))


def render(reply: Reply, *, limit: int = MAX_CARD_CHARS, app_id: str = "") -> dict:
    """An Adaptive Card for a reply; past the size limit the rest is counted in an "and N more" line.
    `app_id` (the Teams app's) lets a link open in the app's own tab."""
    elements, sources = body(reply, app_id)
    content = card(elements)
    if size(content) <= limit and not reply.more:
        return content
    keep = len(elements)
    while keep > 0 and size(card(elements[:keep])) > limit - 400:
        keep = max(0, keep - max(1, keep // 8))
    left = len({i for i in sources[keep:] if isinstance(reply.blocks[i], ProgressLine)}) + reply.more
    kept = elements[:keep]
    if left:
        kept.append(_text(escape(f"… and {left} more that do not fit here; narrow it down (page:N, or goals tree "
                                 f"G-<n> for one branch)."), isSubtle=True, size="Small"))
    return card(kept)


def summary(reply: Reply) -> str:
    """The one line Teams shows in notifications and the chat list."""
    text = reply.summary or "goalbot"
    return text if len(text) <= 200 else text[:199] + "…"


# Forms -------------------------------------------------------------------------------


def _field_error(errors: dict[str, str], field: str) -> list[dict]:
    message = errors.get(field)
    return [_text("⚠️ " + escape(message), color="Attention", size="Small", spacing="None")] if message else []


def add_goal_form(choices: list[tuple[str, str]], values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None) -> dict:
    """Propose a goal: the same fields as the command, with the parent picked from a searchable list."""
    values = values or {}
    errors = errors or {}
    parent_choices = [{"title": f"{value} {label}"[:150], "value": value} for value, label in choices]
    parent = {
        "type": "Input.ChoiceSet", "id": "parent", "label": "Supports", "style": "filtered", "isRequired": False,
        "placeholder": "Search goals by title or G-number", "choices": parent_choices,
        "choices.data": {"type": "Data.Query", "dataset": "goals"},
    }
    if values.get("parent"):
        parent["value"] = values["parent"]
    elements = [
        _text("Propose a goal", size="Medium", weight="Bolder"),
        *_field_error(errors, FORM_ERROR),
        {"type": "Input.Text", "id": "title", "label": "Title", "isRequired": True, "maxLength": MAX_TITLE,
         "errorMessage": "A goal needs a title.", "placeholder": "Cut churn to 3%", "value": values.get("title", "")},
        *_field_error(errors, "title"),
        {"type": "Input.Text", "id": "description", "label": "Description", "isMultiline": True,
         "maxLength": MAX_DESCRIPTION, "value": values.get("description", "")},
        *_field_error(errors, "description"),
        parent,
        *_field_error(errors, "parent"),
        {"type": "Input.ChoiceSet", "id": "level", "label": "Level", "style": "compact",
         "value": values.get("level") or "individual",
         "choices": [{"title": label, "value": value} for value, label in LEVELS]},
        *_field_error(errors, "level"),
        {"type": "Input.Date", "id": "due", "label": "Due", "value": values.get("due", "")},
        *_field_error(errors, "due"),
        {"type": "Input.Text", "id": "key_results", "label": "Key results", "isMultiline": True,
         "maxLength": FORM_KEY_RESULTS * 260, "placeholder": "Monthly churn 5->3 %",
         "value": values.get("key_results", "")},
        _text(escape(f"One per line, up to {FORM_KEY_RESULTS}: a metric, where it starts -> its target, a unit."),
              isSubtle=True, size="Small", spacing="None"),
        *_field_error(errors, "key_results"),
        {"type": "Input.Toggle", "id": "private", "title": "Private: only me, my managers and admins",
         "valueOn": "true", "valueOff": "", "value": "true" if values.get("private") else ""},
    ]
    return card(elements, [submit("Propose", Do.ADD_GOAL.value, style="primary")])


def edit_goal_form(values: dict[str, str], errors: dict[str, str] | None = None) -> dict:
    """Edit a goal: its fields filled in (`bot.views.edit_values`, or what was typed when a field was wrong)."""
    errors = errors or {}
    elements = [
        _text(escape(f"Edit {values.get('ref', '')}"), size="Medium", weight="Bolder"),
        *_field_error(errors, FORM_ERROR),
        {"type": "Input.Text", "id": "title", "label": "Title", "isRequired": True, "maxLength": MAX_TITLE,
         "errorMessage": "A goal needs a title.", "value": values.get("title", "")},
        *_field_error(errors, "title"),
        {"type": "Input.Text", "id": "description", "label": "Description", "isMultiline": True,
         "maxLength": MAX_DESCRIPTION, "value": values.get("description", "")},
        *_field_error(errors, "description"),
        {"type": "Input.Date", "id": "start", "label": "Start", "value": values.get("start", "")},
        *_field_error(errors, "start"),
        {"type": "Input.Date", "id": "due", "label": "Due", "value": values.get("due", "")},
        *_field_error(errors, "due"),
        {"type": "Input.ChoiceSet", "id": "level", "label": "Level (up only: a lower goal is cascaded)",
         "style": "compact", "value": values.get("level") or "individual",
         "choices": [{"title": label, "value": value} for value, label in LEVELS]},
        *_field_error(errors, "level"),
        {"type": "Input.ChoiceSet", "id": "category", "label": "Category", "style": "compact",
         "value": values.get("category") or Category.BUSINESS.value,
         "choices": [{"title": category.value.capitalize(), "value": category.value} for category in Category]},
        *_field_error(errors, "category"),
        {"type": "Input.Toggle", "id": "private", "title": "Private: only the owner, their managers and admins",
         "valueOn": "true", "valueOff": "", "value": "true" if values.get("private") else ""},
    ]
    return card(elements, [submit("Save", Do.EDIT.value, values.get("ref", ""), style="primary")])


def checkin_form(prompt: Reply, answer: str = "", error: str | None = None) -> dict:
    """The check-in prompt with a box for the one-message answer."""
    elements, _ = body(prompt)
    elements.append({
        "type": "Input.Text", "id": "answer", "label": "Your answer", "isMultiline": True, "isRequired": True,
        "maxLength": 4 * MAX_NOTE, "errorMessage": "Write at least one part, like G-12 60%.",
        "placeholder": "G-12 60% at-risk waiting on legal; G-14 done", "value": answer,
    })
    elements.append(_text(escape("One part per goal: progress, health and a note, or done. Separate parts with ; "
                                 "or new lines."), isSubtle=True, size="Small", spacing="None"))
    if error:
        elements.append(_text("⚠️ " + escape(error), color="Attention", size="Small"))
    return card(elements, [submit("Send", Do.ANSWER_CHECKIN.value, style="primary")])


def form_values(value: dict) -> dict[str, str]:
    """The inputs of a submitted card as plain strings (Teams sends them beside the action's data)."""
    return {
        key: str(item) for key, item in value.items()
        if key not in (ACTION, "value", "msteams") and isinstance(item, str | int | float | bool)
    }
