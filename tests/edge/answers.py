"""A scan that must open nothing, checked on a sentinel instead of a person's patience.

The agent answers every scan it takes from the scanner with one line on its screen, written
after it has dealt with the scan: a door it unlocked for the scan was released and read back
before that line. So "this scan opened nothing" is: scan, wait for the screen's line for it
(the sentinel), then see that the line names no slot and no door swung open meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.agent import SiteAgent
from hw_sim.devices.site import QR_SYMBOLOGY, SimulatedSite
from tests.eventually import eventually_async


@dataclass(frozen=True)
class Answer:
    """What the site did about one scan, as a person in front of it would see it."""

    slot: str | None  # the slot the screen says opened for the scan; None: refused
    refusal: object  # the screen's reason for a refusal (None when a door opened)
    opened: list[tuple[int, int]]  # (board, channel) of every door that swung open meanwhile


def openings(site: SimulatedSite) -> dict[tuple[int, int], int]:
    """How many times each door has swung open so far, by (board, channel)."""
    return {(c.board, c.slot): c.openings for c in site.compartments()}


async def scan_answered(
    agent: SiteAgent,
    site: SimulatedSite,
    code: str,
    symbology: str | None = QR_SYMBOLOGY,
    timeout: float = 10.0,
) -> Answer:
    """Scan `code` at the site's scanner and wait (up to `timeout` s) for the agent's screen
    to answer that very scan; return the answer and the doors that opened before it.

    Raises AssertionError if the agent never answers: a scan it dropped unanswered is a
    failure of its own, not a refusal.
    """
    handled = agent.scans_handled
    before = openings(site)
    site.scan(code, symbology)
    line = await eventually_async(
        lambda: agent.screen_answer(code, after=handled), timeout, f"the screen's answer to {code}"
    )
    now = openings(site)
    opened = [door for door, count in now.items() if count > before.get(door, 0)]
    return Answer(slot=line.slot, refusal=line.refusal, opened=opened)


async def scan_opens_nothing(
    agent: SiteAgent, site: SimulatedSite, code: str, symbology: str | None = QR_SYMBOLOGY
) -> Answer:
    """`scan_answered`, asserting the answer is a refusal and no door opened for it."""
    answer = await scan_answered(agent, site, code, symbology)
    assert answer.slot is None and answer.opened == [], f"{code!r} opened a door: {answer}"
    return answer
