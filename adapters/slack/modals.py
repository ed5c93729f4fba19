"""The modals: add a goal, give a reason to return one, answer a check-in."""

from __future__ import annotations

import json

from adapters.slack import render
from bot.commands import FORM_KEY_RESULTS, MAX_DESCRIPTION, MAX_NOTE, MAX_TITLE
from bot.messages import Do, Reply
from storage.vocabulary import Category, Level

# A modal's callback id is the action its submission stands for.
ADD_GOAL = Do.ADD_GOAL.value
RETURN_GOAL = Do.RETURN.value
CHECK_IN = Do.ANSWER_CHECKIN.value
EDIT_GOAL = Do.EDIT.value
CATEGORIES = tuple((category.value, category.value.capitalize()) for category in Category)
LEVELS = tuple((level.value, level.label) for level in reversed(Level))


def _input(block_id: str, label: str, element: dict, *, optional: bool = False, hint: str | None = None) -> dict:
    block = {"type": "input", "block_id": block_id, "label": render.plain(label, 2000), "element": element,
             "optional": optional}
    if hint:
        block["hint"] = render.plain(hint, 2000)
    return block


def _text_input(action_id: str, *, multiline: bool = False, max_length: int | None = None, placeholder: str = "") -> dict:
    element: dict = {"type": "plain_text_input", "action_id": action_id, "multiline": multiline}
    if max_length:
        element["max_length"] = max_length
    if placeholder:
        element["placeholder"] = render.plain(placeholder, 150)
    return element


def _modal(callback_id: str, title: str, submit: str, blocks: list[dict], metadata: dict | None = None) -> dict:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": render.plain(title, 24),
        "submit": render.plain(submit, 24),
        "close": render.plain("Cancel", 24),
        "private_metadata": json.dumps(metadata or {}),
        "blocks": blocks[: render.SURFACE_BLOCKS],
    }


def add_goal() -> dict:
    level_options = [{"text": render.plain(label, 75), "value": value} for value, label in LEVELS]
    return _modal(ADD_GOAL, "Propose a goal", "Propose", [
        _input("title", "Title", _text_input("title", max_length=MAX_TITLE, placeholder="Cut churn to 3%")),
        _input("description", "Description", _text_input("description", multiline=True, max_length=MAX_DESCRIPTION),
               optional=True),
        _input("parent", "Supports", {
            "type": "external_select", "action_id": "parent", "min_query_length": 0,
            "placeholder": render.plain("Search goals by title or G-number", 150),
        }, optional=True, hint="The goal this one helps achieve."),
        _input("level", "Level", {
            "type": "static_select", "action_id": "level", "options": level_options, "initial_option": level_options[0],
        }),
        _input("due", "Due", {"type": "datepicker", "action_id": "due"}, optional=True),
        _input("key_results", "Key results", _text_input(
            "key_results", multiline=True, max_length=FORM_KEY_RESULTS * 260, placeholder="Monthly churn 5->3 %",
        ), optional=True, hint=f"One per line, up to {FORM_KEY_RESULTS}: a metric, where it starts -> its target, a unit."),
        _input("private", "Visibility", {
            "type": "checkboxes", "action_id": "private",
            "options": [{"text": render.plain("Private: only me, my managers and admins", 75), "value": "true"}],
        }, optional=True),
    ])


def _options(pairs) -> list[dict]:
    return [{"text": render.plain(label, 75), "value": value} for value, label in pairs]


def edit_goal(values: dict[str, str]) -> dict:
    """The edit form, filled in with the goal as it is (`bot.views.edit_values`)."""
    levels, categories = _options(LEVELS), _options(CATEGORIES)

    def chosen(options: list[dict], value: str) -> dict:
        return next((option for option in options if option["value"] == value), options[0])

    def dated(action_id: str, value: str) -> dict:
        return {"type": "datepicker", "action_id": action_id, **({"initial_date": value} if value else {})}

    privacy = {"text": render.plain("Private: only the owner, their managers and admins", 75), "value": "true"}
    return _modal(EDIT_GOAL, f"Edit {values['ref']}"[:24], "Save", [
        _input("title", "Title", {**_text_input("title", max_length=MAX_TITLE), "initial_value": values["title"]}),
        _input("description", "Description", {**_text_input("description", multiline=True, max_length=MAX_DESCRIPTION),
                                              **({"initial_value": values["description"]} if values["description"] else {})},
               optional=True),
        _input("start", "Start", dated("start", values["start"]), optional=True),
        _input("due", "Due", dated("due", values["due"]), optional=True),
        _input("level", "Level", {"type": "static_select", "action_id": "level", "options": levels,
                                  "initial_option": chosen(levels, values["level"])},
               hint="Up only: a goal goes down a level by being cascaded (goals assign)."),
        _input("category", "Category", {"type": "static_select", "action_id": "category", "options": categories,
                                        "initial_option": chosen(categories, values["category"])}),
        _input("private", "Visibility", {"type": "checkboxes", "action_id": "private", "options": [privacy],
                                         **({"initial_options": [privacy]} if values["private"] else {})},
               optional=True),
    ], {"goal": values["ref"]})


def return_goal(ref: str) -> dict:
    return _modal(RETURN_GOAL, f"Return {ref}", "Return", [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"Say what would make *{render.escape(ref)}* ready to approve."}},
        _input("reason", "Reason", _text_input("reason", multiline=True, max_length=MAX_NOTE)),
    ], {"goal": ref})


def check_in(prompt: Reply) -> dict:
    blocks = render.blocks(prompt, render.SURFACE_BLOCKS - 1)
    blocks.append(_input("answer", "Your answer", _text_input(
        "answer", multiline=True, max_length=4 * MAX_NOTE, placeholder="G-12 60% at-risk waiting on legal; G-14 done",
    ), hint="One part per goal: progress, health and a note, or done. Separate parts with ; or new lines."))
    return _modal(CHECK_IN, "Check-in", "Send", blocks)


def form_values(view: dict) -> dict[str, str]:
    """A submitted view's inputs as plain strings, keyed by block id."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            kind = element.get("type")
            if kind == "plain_text_input":
                value = element.get("value")
            elif kind in ("static_select", "external_select"):
                option = element.get("selected_option")
                value = option.get("value") if isinstance(option, dict) else None
            elif kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "checkboxes":
                value = "true" if element.get("selected_options") else ""
            else:
                continue
            values[block_id] = value if isinstance(value, str) else ""
    return values


def metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
