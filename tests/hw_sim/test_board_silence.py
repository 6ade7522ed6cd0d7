"""A lock board that stops answering in the simulator's day: the operator at central sees a
board_fault alarm while the board is silent, and it clears once the board answers again.

The day runs the agents' bus timing in real seconds, so under its compression the agent
needs tens of simulated minutes to call a board down; the day's 45-minute silence was over
before it could, and central showed no board_fault (hw_sim/field/board_silence.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from central.store.open import open_reader
from central.store.read import StoreReader
from edge.config import LockBusConfig
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.errors import ConfigError
from hw_sim.field.board_silence import (
    HOUR_S,
    noticed_within_s,
    play_board_silence,
    silence_hours,
)
from hw_sim.network.fleet import Fleet, SimOptions
from protocols.clock import ScaledClock
from protocols.messages import SiteKind
from tests.eventually import eventually_async

pytestmark = pytest.mark.broker

DAY_SILENCE_H = 0.75  # the day's fault plan: "board 0 stops answering" for 45 minutes
# Real seconds past the held silence for the board's return to reach central: a few polls
# and a delivery, on a machine shared with other tests.
CLEAR_SLACK_S = 30.0


def _board_alarms(store: str | Path, site: str) -> list[tuple[str, bool]]:
    """Central's board_fault alarms at `site`, as the operator's list shows them: (ref, open)."""
    try:
        with open_reader(store) as reader:
            alarms = reader.view.list_alarms(include_cleared=True)
    except StoreReader.errors:
        return []  # central has not made its store yet
    ours = [a for a in alarms if a.site == site and a.kind == "board_fault"]
    return [(a.ref, a.cleared_at is None) for a in sorted(ours, key=lambda a: a.id or 0)]


async def _a_silence_is_seen_then_cleared(
    fleet: Fleet, site_id: str, board: int, kind: FaultKind, earlier: list[tuple[str, bool]]
) -> None:
    site = fleet.sites[site_id]
    hours = silence_hours(site.agent.config.lock_bus, DAY_SILENCE_H)
    held_real_s = hours * HOUR_S / fleet.options.compression
    silence = asyncio.ensure_future(play_board_silence(site.sim, fleet.clock, board, hours, kind))
    try:
        raised = [*earlier, (str(board), True)]
        await eventually_async(
            lambda: _board_alarms(fleet.store.location, site_id) == raised,
            held_real_s,
            f"central's board_fault for board {board} alone ({kind})",
            interval=0.05,
        )
        # The operator sees it while the board is still silent.
        assert not silence.done(), (kind, _board_alarms(fleet.store.location, site_id))
        await silence
    finally:
        silence.cancel()
    cleared = [*earlier, (str(board), False)]
    await eventually_async(
        lambda: _board_alarms(fleet.store.location, site_id) == cleared,
        CLEAR_SLACK_S,
        f"the board_fault for board {board} cleared ({kind})",
        interval=0.05,
    )


def test_a_board_silent_in_the_days_timing_is_an_alarm_at_central_until_it_answers(tmp_path):
    # `lockernet sim --minutes 1`: the day at x1440, the agents' bus timing in real seconds.
    options = SimOptions(
        lockers=1, counters=1, couriers=1, parcels=4, wall_s=60.0, pty_sites=0, faults=False
    )

    async def play() -> None:
        fleet = Fleet(options, tmp_path, lambda _: None)
        fleet.remember_loop()
        try:
            await fleet.build()
            locker = next(s for s in fleet.sites.values() if s.spec.kind is SiteKind.LOCKER)
            assert len(locker.sim.board_ids) >= 2, locker.sim.board_ids
            # The day's fault, then another that leaves a board silent: a board losing power.
            await _a_silence_is_seen_then_cleared(
                fleet, locker.spec.id, 0, FaultKind.NO_REPLY, earlier=[]
            )
            await _a_silence_is_seen_then_cleared(
                fleet, locker.spec.id, 1, FaultKind.POWER_LOSS, earlier=[("0", False)]
            )
        finally:
            await fleet.close()

    asyncio.run(play())


def test_the_days_silence_is_held_past_what_the_agent_needs_to_notice_it():
    day = LockBusConfig(port="memory", poll_interval_s=720.0, reply_timeout_s=360.0)  # x720
    # The root cause in figures: 54 simulated minutes at worst, against a 45-minute silence.
    assert noticed_within_s(day) > DAY_SILENCE_H * HOUR_S
    assert silence_hours(day, DAY_SILENCE_H) * HOUR_S >= 2 * noticed_within_s(day)
    # The field's timing: a board is called down in seconds, and the plan stands as it is.
    field = LockBusConfig(port="/dev/ttyUSB0")
    assert noticed_within_s(field) < 15.0
    assert silence_hours(field, DAY_SILENCE_H) == DAY_SILENCE_H


def test_a_silence_at_a_counter_or_of_no_time_is_refused():
    with pytest.raises(ConfigError, match="lock bus"):
        silence_hours(None, DAY_SILENCE_H)
    with pytest.raises(ConfigError, match="positive"):
        silence_hours(LockBusConfig(port="memory"), 0.0)


def test_a_fault_that_leaves_the_board_answering_is_refused_and_changes_nothing():
    clock = ScaledClock(720.0)
    sim = SimulatedSite(clock, SiteConfig(boards=1))
    with pytest.raises(ConfigError, match="silent"):
        asyncio.run(play_board_silence(sim, clock, 0, 0.1, FaultKind.CORRUPT_REPLY))
    assert sim.board(0).faults.active() == []
