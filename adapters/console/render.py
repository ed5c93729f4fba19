"""The core's replies as plain text for a terminal or a pipe."""

from __future__ import annotations

import re

from bot.messages import Buttons, Context, Divider, Fields, Header, Paragraph, ProgressLine, Reply

BAR_WIDTH = 10
# C0/C1 controls (but newline and tab) and bidirectional overrides: a goal title
# must not move the cursor, recolour the terminal or reorder what is shown.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HEALTH = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}


def clean(text: str) -> str:
    """User text made safe to print: control characters become visible escapes."""
    return UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def bar(percent: float) -> str:
    filled = int(max(0.0, min(100.0, percent)) / 100 * BAR_WIDTH + 0.5)
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"


def progress_line(block: ProgressLine) -> str:
    indent = "  " * block.depth
    parts = [f"{indent}{block.ref} {bar(block.percent)} {block.percent:3.0f}%  {clean(block.label)}"]
    extra = [clean(block.detail)] if block.detail else []
    if block.health:
        extra.append(HEALTH.get(block.health, block.health))
    if extra:
        parts.append("(" + ", ".join(extra) + ")")
    return " ".join(parts)


def render(reply: Reply) -> str:
    lines: list[str] = []
    for block in reply.blocks:
        match block:
            case Header(text):
                if lines:
                    lines.append("")
                lines.append(clean(text))
            case Paragraph(text):
                lines.append(clean(text))
            case Context(text):
                lines.append("  " + clean(text))
            case Fields(pairs):
                width = max(len(label) for label, _ in pairs) if pairs else 0
                lines.extend(f"  {clean(label).ljust(width)}  {clean(value)}" for label, value in pairs)
            case ProgressLine():
                lines.append(progress_line(block))
            case Buttons(buttons):
                lines.append("  " + "   ".join(f"{b.label}: {clean(b.command)}" for b in buttons))
            case Divider():
                lines.append("")
    return "\n".join(lines)
