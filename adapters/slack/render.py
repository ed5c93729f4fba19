"""The core's replies as Block Kit, inside Slack's limits, with every user string escaped."""

from __future__ import annotations

from bot.messages import Buttons, Context, Divider, Fields, Header, Link, Paragraph, ProgressLine, Reply, Usage
from storage.vocabulary import Health

MESSAGE_BLOCKS = 50
SURFACE_BLOCKS = 100  # modals and the Home tab
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS_PER_SECTION = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
URL_LIMIT = 3000
OPEN_LINK = "map.open"  # the action id of a link button: Slack reports the press, which needs only an ack
HEALTH_MARKS = {Health.ON_TRACK: ":large_green_circle:", Health.AT_RISK: ":large_yellow_circle:",
                Health.OFF_TRACK: ":red_circle:", Health.BLOCKED: ":no_entry:"}


def escape(text: str) -> str:
    """Slack's three control characters, so `<!channel>` or `<https://x|y>` stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int) -> dict:
    """A plain_text object: Slack shows it as typed, so it needs no escaping, only a length cut."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text or " ", "emoji": True}


def _chunks(text: str, limit: int) -> list[str]:
    """Escaped text split into pieces of at most `limit`, never inside an entity like `&amp;`."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        amp = text.rfind("&", 0, cut)
        if amp != -1 and ";" not in text[amp:cut] and cut - amp < 6:
            cut = amp
        pieces.append(text[:cut])
        text = text[cut:].lstrip(" ")
    pieces.append(text)
    return pieces


def mrkdwn_sections(text: str) -> list[dict]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece or " "}} for piece in _chunks(text, SECTION_TEXT)]


def progress_text(line: ProgressLine) -> str:
    indent = "      " * min(line.depth, 6) + ("↳ " if line.depth else "")
    parts = line.parts(f"`{line.bar()}`", HEALTH_MARKS, escape)
    return f"{indent}*{escape(line.ref)}* {escape(line.label)}\n{indent}{' · '.join(parts)}"


def _block(block, error: bool) -> list[dict]:
    match block:
        case Header(text):
            return [{"type": "header", "text": plain(text, HEADER_TEXT)}]
        case Paragraph(text):
            return mrkdwn_sections((":warning: " if error else "") + escape(text))
        case Context(text):
            return [{"type": "context", "elements": [{"type": "mrkdwn", "text": piece}]} for piece in _chunks(escape(text), SECTION_TEXT)]
        case Usage(command):
            return [{"type": "context", "elements": [{"type": "mrkdwn", "text": "Try: `" + piece.replace("`", "'") + "`"}]}
                    for piece in _chunks(escape(command), SECTION_TEXT - 10)]
        case Fields(pairs):
            fields = [
                {"type": "mrkdwn", "text": _chunks(f"*{escape(label)}*\n{escape(value)}", FIELD_TEXT)[0]}
                for label, value in pairs
            ]
            return [
                {"type": "section", "fields": fields[i : i + FIELDS_PER_SECTION]}
                for i in range(0, len(fields), FIELDS_PER_SECTION)
            ]
        case ProgressLine():
            return mrkdwn_sections(progress_text(block))
        case Buttons(buttons):
            elements = []
            shown = buttons[:25]
            repeated = len({button.action for button in shown}) < len(shown)
            for index, button in enumerate(shown):
                element = {
                    "type": "button",
                    "text": plain(button.label, BUTTON_TEXT),
                    # Action ids are unique within a block: repeated ones carry their position.
                    "action_id": f"{button.action}:{index}" if repeated else button.action,
                    "value": button.value[:2000],
                }
                if button.style in ("primary", "danger"):
                    element["style"] = button.style
                elements.append(element)
            return [{"type": "actions", "elements": elements}]
        case Divider():
            return [{"type": "divider"}]
        case Link(label, url):
            # A link button: Slack opens the address, and still tells the app it was pressed (acknowledged only).
            return [{"type": "actions", "elements": [
                {"type": "button", "text": plain(label, BUTTON_TEXT), "url": url[:URL_LIMIT], "action_id": OPEN_LINK}]}]
    raise AssertionError(f"unknown block {block!r}")


def blocks(reply: Reply, limit: int = MESSAGE_BLOCKS) -> list[dict]:
    """Block Kit for a reply; past `limit` blocks the rest is counted in an "and N more" line."""
    rendered: list[dict] = []
    sources: list[int] = []
    for index, block in enumerate(reply.blocks):
        for item in _block(block, reply.error):
            rendered.append(item)
            sources.append(index)
    if len(rendered) > limit:
        kept = limit - 1
        # Count what is left out in the core's own rows: a goal is one row, whatever its blocks.
        left = len({i for i in sources[kept:] if isinstance(reply.blocks[i], ProgressLine)})
        more = left + reply.more
        note = escape(f"… and {more} more that do not fit here; narrow it down (page:N, or goals tree G-<n> for one branch).")
        rendered = rendered[:kept] + [{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]
    return rendered


def text(reply: Reply) -> str:
    """The notification and fallback text."""
    return escape(reply.summary or "goalbot")[:SECTION_TEXT]
