"""Block Kit from the core's replies: Slack's limits kept, every user string escaped."""

from __future__ import annotations

from adapters.slack import render
from bot.messages import Button, Buttons, Context, Fields, Header, Paragraph, ProgressLine, Reply


def section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def test_a_long_paragraph_is_split_into_sections_of_at_most_3000_characters_without_losing_text():
    words = ["R&D"] * 2500  # escaping grows each word to 7 characters: 20,000 in all
    blocks = render.blocks(Reply.text(" ".join(words)))
    texts = section_texts(blocks)
    assert len(texts) == 7 and all(len(t) <= 3000 for t in texts)
    assert " ".join(texts).split() == ["R&amp;D"] * 2500


def test_a_cut_never_falls_inside_an_escaped_character():
    text = "a" * 2998 + "<b>"
    texts = section_texts(render.blocks(Reply.text(text)))
    assert texts[0].endswith("a") and texts[1].startswith("&lt;b&gt;")


def test_headers_buttons_and_fields_respect_their_own_limits():
    reply = Reply(blocks=(
        Header("H" * 400),
        Fields(tuple((f"label {i}", "v" * 2500) for i in range(23))),
        Buttons((Button("B" * 100, "goal.approve", "G-1", "goals approve G-1", "primary"),)),
    ))
    blocks = render.blocks(reply)
    assert len(blocks[0]["text"]["text"]) == 150
    field_sections = [b for b in blocks if b["type"] == "section"]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 3]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    button = blocks[-1]["elements"][0]
    assert len(button["text"]["text"]) == 75 and button["style"] == "primary" and button["value"] == "G-1"


def test_past_the_block_limit_the_rest_is_counted_not_dropped_silently():
    rows = tuple(ProgressLine(ref=f"G-{n}", label=f"Goal {n}", percent=n) for n in range(1, 131))
    reply = Reply(blocks=(Header("Tree"), *rows, Context("130 goals")))
    message = render.blocks(reply)
    assert len(message) == 50
    assert message[-1]["type"] == "context" and "and 82 more" in message[-1]["elements"][0]["text"]
    home = render.blocks(reply, render.SURFACE_BLOCKS)
    assert len(home) == 100 and "and 32 more" in home[-1]["elements"][0]["text"]


def test_every_user_string_is_escaped_in_every_kind_of_block():
    evil = "<!channel> <https://evil.example|doc> & <@U123>"
    reply = Reply(blocks=(
        Paragraph(evil), Context(evil), Fields(((evil, evil),)),
        ProgressLine(ref="G-1", label=evil, percent=50, detail=evil, health="at_risk", depth=2),
    ))
    rendered = str(render.blocks(reply)) + render.text(reply)
    assert "<" not in rendered.replace("<@", "") and "<@" not in rendered
    assert rendered.count("&lt;!channel&gt;") == 7  # six blocks and the notification text
    assert "& " not in rendered
