"""What is waiting for me (`goals list pending`), and help grouped by what a person wants to do."""

from __future__ import annotations

from bot.commands import HELP_GROUPS, SHORT_USAGE, USAGE
from bot.messages import Action, Actor, Address, Buttons, Do


async def test_pending_lists_what_waits_for_my_decision_and_my_acceptance_with_buttons(org):
    await org.say("ana@example.com", "goals add Cut churn")  # G-1, for Bo to decide
    await org.say("bo@example.com", "goals assign Write the runbook owner:@ravi")  # G-2, for Ravi to accept
    await org.say("nina@example.com", "goals add Sell more")  # G-3, Lena's to decide, not Bo's
    shown = await org.say("bo@example.com", "goals list pending")
    assert "To decide (1):" in shown and "G-1" in shown and "G-3" not in shown and "G-2" not in shown, shown
    assert "Approve: goals approve G-1" in shown and "Return: goals return G-1 <reason>" in shown
    shown = await org.say("ravi@example.com", "goals list pending")
    assert "To accept (1):" in shown and "Accept: goals accept G-2" in shown and "To decide" not in shown, shown
    assert "Nothing is waiting for you." in await org.say("ana@example.com", "goals list pending")
    # Its buttons act as the presser is allowed to: Ravi's Accept works, Ana's is refused.
    reply = await org.send("ravi@example.com", "goals list pending")
    (accept, _decline) = next(block for block in reply.blocks if isinstance(block, Buttons)).buttons
    forged = await org.bot.act(Action(Actor("console", "ana@example.com", email="ana@example.com"), accept.action,
                                      accept.value, Address.direct("console", "ana@example.com")))
    assert forged.error, forged.summary
    accepted = await org.bot.act(Action(Actor("console", "ravi@example.com", email="ravi@example.com"), Do.APPROVE,
                                        accept.value, Address.direct("console", "ravi@example.com")))
    assert not accepted.error and "G-2" in accepted.summary
    assert "Nothing is waiting for you." in await org.say("ravi@example.com", "goals list pending")


def test_every_command_is_in_exactly_one_help_group_with_a_short_form():
    grouped = [name for _title, names in HELP_GROUPS for name in names]
    assert sorted(grouped) == sorted(USAGE) and len(grouped) == len(set(grouped))
    assert set(SHORT_USAGE) == set(USAGE)


async def test_help_answers_however_it_is_asked(org):
    whole = await org.say("ana@example.com", "goals help")
    assert whole.startswith("goalbot commands") and "Decide on proposals" in whole
    for line in ("help goals", "goals help goals", "help", "goals"):
        assert (await org.say("ana@example.com", line)) == whole, line
    admin = await org.say("maya@example.com", "goals help admin")
    assert admin == await org.say("maya@example.com", "goals admin")
    assert "goals admin holiday list\n" in admin and "Did you mean" not in admin
    kr = await org.say("ana@example.com", "goals help kr")
    assert "goals kr remove G-12.1" in kr.splitlines()
