"""hw_sim's silent broker, played against a real site link: bounded lines naming the broker,
and the site back on its real broker within the reconnect cap."""

from __future__ import annotations

import asyncio

import pytest

import edge.uplink.mqtt
from hw_sim.field.link_faults import SilentSpell, behind_silent_broker
from protocols.clock import ScaledClock
from tests.edge.test_reconnect import _link
from tests.eventually import eventually_async

pytestmark = pytest.mark.broker


def test_a_spell_behind_a_silent_broker_keeps_lines_bounded_and_the_site_returns(
    tmp_path, broker, topics, monkeypatch
):
    monkeypatch.setattr(edge.uplink.mqtt, "CONNECT_TIMEOUT_S", 0.2)  # 10 s in the field
    clock = ScaledClock(20)

    async def scenario() -> SilentSpell:
        link = _link(tmp_path, broker.host, broker.port, topics, clock)
        task = asyncio.ensure_future(link.run())
        try:
            await eventually_async(lambda: link.connected, 10, "connected")
            spell = await behind_silent_broker(link, seconds=40)
            assert link.connected
            return spell
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            link.store.close()

    spell = asyncio.run(scenario())
    assert len(spell.lines) >= 3
    assert spell.ok(), spell.problems()


def test_the_spell_reports_lines_that_grow():
    """The verdict's side: a spell whose lines grew (the field's fault) is not ok."""
    lines = [
        "site L1: broker 127.0.0.1:1 unreachable: ConnectionError: x",
        "site L1: broker 127.0.0.1:1 unreachable: ConnectionError: ConnectionError: x",
    ]
    spell = SilentSpell(where="127.0.0.1:1", lines=lines, back_after_s=1.0, bound_s=40.0)
    assert spell.problems() == [f"error lines grew: lengths {[len(line) for line in lines]}"]
