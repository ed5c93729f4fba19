"""The core's replies as Adaptive Cards: the blocks, the size limit, and escaping."""

from __future__ import annotations

import json

from adapters.teams import cards
from bot.messages import Button, Buttons, Context, Divider, Fields, Header, Paragraph, ProgressLine, Reply


def test_every_block_becomes_its_card_element():
    reply = Reply(blocks=(
        Header("Platform goals"),
        Paragraph("Two goals"),
        ProgressLine("G-2", "Platform reliability", 62.5, "Bo Larsen", "at_risk", 0),
        ProgressLine("G-3", "Halve p99 latency", 30, "", "on_track", 1),
        Divider(),
        Fields((("Level", "team"), ("Due", "2027-03-31"))),
        Context("2 of 2"),
        Buttons((Button("Approve", "goal.approve", "G-2", "goals approve G-2", "primary"),
                 Button("Return", "goal.return", "G-2", "goals return G-2 <reason>", "danger"))),
    ))
    card = cards.render(reply)
    assert card["version"] == "1.5" and card["type"] == "AdaptiveCard" and card["$schema"].startswith("http")
    header, paragraph, first, second, facts, context, actions = card["body"]
    assert header["weight"] == "Bolder"
    assert first["type"] == "Container" and "██████░░░░ 62.5%" in first["items"][1]["text"]
    assert "🟡 at risk" in first["items"][1]["text"] and "Bo Larsen" in first["items"][1]["text"]
    assert second["items"][0]["text"] == "\u00a0" * 4 + "↳ **G-3** Halve p99 latency"  # indented under its parent
    assert facts["type"] == "FactSet" and facts["separator"] is True
    assert facts["facts"] == [{"title": "Level", "value": "team"}, {"title": "Due", "value": "2027-03-31"}]
    assert context["isSubtle"] is True
    approve, give_back = actions["actions"]
    assert approve == {"type": "Action.Submit", "title": "Approve", "style": "positive",
                       "data": {"goalbot": "goal.approve", "value": "G-2"}}
    assert give_back["type"] == "Action.ShowCard"
    reason = give_back["card"]["body"][0]
    assert reason["id"] == "reason" and reason["isRequired"] and reason["maxLength"] > 0
    assert give_back["card"]["actions"][0]["data"] == {"goalbot": "goal.return", "value": "G-2"}


def test_an_error_is_marked_and_colored():
    card = cards.render(Reply.failure("G-9 is not yours."))
    assert card["body"][0]["color"] == "Attention" and card["body"][0]["text"].startswith("⚠️")


def test_a_long_reply_stays_inside_teams_message_size_and_says_how_many_are_left_out():
    rows = tuple(ProgressLine(f"G-{n}", "A goal with a fairly long title " * 3, n % 100, "Someone Long-Named")
                 for n in range(1, 1001))
    card = cards.render(Reply(blocks=(Header("Everything"), *rows)))
    size = len(json.dumps(card, ensure_ascii=False))
    assert size <= cards.MAX_CARD_CHARS
    assert len(json.dumps(card, ensure_ascii=False).encode("utf-16-le")) < 80_000  # Teams counts UTF-16
    shown = sum(1 for element in card["body"] if element["type"] == "Container")
    note = card["body"][-1]["text"].replace("\\", "")
    assert f"and {1000 - shown} more" in note and 0 < shown < 1000


def test_more_rows_than_the_core_listed_are_counted_too():
    card = cards.render(Reply(blocks=(ProgressLine("G-1", "One", 10),), more=25))
    assert "and 25 more" in card["body"][-1]["text"]


def test_escaping_keeps_text_as_typed_for_teams_markdown():
    hostile = "**x** _y_ [a](http://e.x) `c` ~z~ <b>&amp; {{TIME(2017-02-14T06:08:39Z)}} | #"
    escaped = cards.escape(hostile)
    # Remove the escapes a Markdown reader removes: what is left is the original text.
    assert escaped.replace("\\", "").replace("\u200b", "") == hostile
    for special in "*_[]()`~<>&{}|":
        assert f"\\{special}" in escaped or special not in hostile
    assert cards.escape("- a\n+ b\n# c\n10. d").splitlines() == ["\\- a", "\\+ b", "\\# c", "10\\. d"]
    assert cards.escape("plain words, G-12 60%") == "plain words, G-12 60%"
