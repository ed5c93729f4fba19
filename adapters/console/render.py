"""The core's replies as plain text for a terminal or a pipe."""

from __future__ import annotations

import re

from bot.messages import Buttons, Context, Divider, Fields, Header, Link, Paragraph, ProgressLine, Reply, Usage
from storage.vocabulary import Health

# C0/C1 controls (but newline and tab) and bidirectional overrides: a goal title
# must not move the cursor, recolour the terminal or reorder what is shown.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """User text made safe to print: control characters become visible escapes."""
    return UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def progress_line(block: ProgressLine) -> str:
    indent = "  " * block.depth
    parts = [f"{indent}{block.ref} [{block.bar('#', '-')}] {block.percent:3.0f}%  {clean(block.label)}"]
    extra = [clean(block.detail)] if block.detail else []
    if block.health:
        extra.append(clean(Health.words_of(block.health)))
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
            case Usage(command):
                lines.append("  Try: " + clean(command))
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
            case Link(label, url):
                lines.append(f"  {clean(label)}: {clean(url)}")
    return "\n".join(lines)
