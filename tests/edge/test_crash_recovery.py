"""An agent killed between a door's commit and its unlock frame: the restarted agent settles
the intent by the board (no jam, nothing that did not happen, the same code works again);
a door that did open is finished. Real agents on one SQLite file, devices on ptys, a real
broker and an observer that sees what central would see."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from edge.agent import SiteAgent
from edge.site.crash_recovery import Outcome, settle
from hw_sim.devices.rs485_board import Rs485Options
from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY, SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.field.crash_points import crash_at_next_unlock, kill
from hw_sim.people.people import Consumer, Courier, Pace
from protocols.boards import BoardFamily
from protocols.messages import MarkForRemoval, RemovalReason, SlotState
from tests.edge.answers import openings, scan_answered
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

# The agent's process, armed to SIGKILL itself at its next unlock (hw_sim.field.crash_points).
_CRASHING_AGENT = """
import asyncio, json, sys
from edge.config import parse_config
from edge.host.service import build_agent
from hw_sim.field.crash_points import die_before_unlock

async def main():
    agent = build_agent(parse_config(json.loads(sys.argv[1])))
    die_before_unlock(agent)
    await agent.run()

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("state", "door_open", "occupied", "released", "outcome"),
    [
        (SlotState.OPEN_FOR_PICKUP, False, True, False, Outcome.DID_NOT_HAPPEN),
        (SlotState.OPEN_FOR_PICKUP, False, True, True, Outcome.DID_NOT_HAPPEN),
        (SlotState.OPEN_FOR_PICKUP, False, False, False, Outcome.HAPPENED),
        (SlotState.OPEN_FOR_PICKUP, False, None, False, Outcome.DID_NOT_HAPPEN),
        (SlotState.OPEN_FOR_PICKUP, False, None, True, Outcome.HAPPENED),
        (SlotState.OPEN_FOR_PICKUP, True, True, False, Outcome.STILL_OPEN),
        (SlotState.OPEN_FOR_DEPOSIT, False, False, False, Outcome.DID_NOT_HAPPEN),
        (SlotState.OPEN_FOR_DEPOSIT, False, True, False, Outcome.HAPPENED),
        (SlotState.OPEN_FOR_DEPOSIT, False, None, False, Outcome.DID_NOT_HAPPEN),
        (SlotState.OPEN_FOR_REMOVAL, False, True, False, Outcome.DID_NOT_HAPPEN),
        (SlotState.OPEN_FOR_REMOVAL, False, False, True, Outcome.HAPPENED),
    ],
)
def test_the_board_settles_an_interrupted_door(state, door_open, occupied, released, outcome):
    assert settle(state, door_open, occupied, released) is outcome


def test_settling_a_slot_that_is_not_being_opened_is_refused():
    with pytest.raises(ValueError, match="occupied"):
        settle(SlotState.OCCUPIED, False, True, False)


async def _deposit(rig: SiteRig, agent: SiteAgent, parcel: str) -> str:
    slot = await rig.reserve(parcel)
    report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
    assert parcel in report.placed
    await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.OCCUPIED)
    return slot


def test_kill_9_between_a_pickups_commit_and_its_unlock_frame_leaves_the_parcel_to_collect(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    (parcel,) = labels(1)

    def status() -> bytes:
        return observer.retained.get("status", b"")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            slot = await _deposit(rig, agent, parcel)
            await agent.stop()
            rig.agent = None
            await eventually_async(lambda: b'"online":false' in status(), 10, "offline")
            # The agent in its own process, armed to SIGKILL itself at its next unlock.
            config = json.dumps(rig.config.model_dump(mode="json"))
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CRASHING_AGENT, config
            )
            await eventually_async(lambda: b'"online":true' in status(), 20, "child online")
            code = rig.pickup_code(parcel)
            before = openings(rig.sim)
            rig.sim.scan(code, QR_SYMBOLOGY)
            # The sentinel: the agent dies at the unlock it was armed for...
            assert await asyncio.wait_for(child.wait(), 20) == -9
            assert openings(rig.sim) == before  # ...and the frame never left: no door opened
            lock = agent.slots[slot].lock
            assert rig.sim.compartment(0, lock).contents == (parcel,)

            restarted = rig.agent = rig.new_agent()
            await restarted.start()
            assert restarted.store.read().slot(slot).state is SlotState.OCCUPIED
            assert not restarted.faults, restarted.faults
            # The same code opens the door on the next scan, and the parcel is collected.
            second = await Consumer(rig.sim, BRISK).pick_up(code)
            assert second.taken == [parcel]
            await eventually_async(lambda: observer.of_type("parcel_picked_up"), 10, "pickup")
            await eventually_async(lambda: restarted.store.pending_count() == 0, 10, "drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        types = observer.types()
        # The crash's door_opened is closed by a door_closed with the parcel inside, then
        # comes the real pickup: no jam, one pickup, every sequence number once.
        assert "lock_fault" not in types, types
        assert len(observer.of_type("parcel_picked_up")) == 1
        assert types.count("door_opened") == types.count("door_closed") == 3, types
        seqs = observer.unique_seqs()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        observer.close()


async def _scan_into_crash(
    rig: SiteRig, agent: SiteAgent, badge: str, parcel: str, crash: asyncio.Future[SiteAgent | None]
) -> SiteAgent:
    """A courier's badge, then the parcel's label, with `agent` armed to die at its next
    unlock. The sentinel is its death (`crash` returns the agent started in its place); by
    then no door may have opened, as the unlock frame never left."""
    before = openings(rig.sim)
    await scan_answered(agent, rig.sim, badge)
    rig.sim.scan(parcel, LABEL_SYMBOLOGY)
    restarted = await crash
    assert restarted is not None, "the agent never reached the unlock"
    assert openings(rig.sim) == before, "a door opened, though the unlock frame never left"
    return restarted


async def _remove(rig: SiteRig, parcel: str, pace: Pace) -> bool:
    """A returns courier: badge, the parcel's label, take it, shut the door."""
    courier = Courier(rig.sim, pace)
    await courier.scan(rig.badge("returns-1"), QR_SYMBOLOGY)
    door = await courier.scan_and_wait(parcel, LABEL_SYMBOLOGY)
    if door is None:
        return False
    door.take(parcel)
    assert door.close_door()
    return True


@pytest.mark.parametrize("visit", ["deposit", "removal"])
def test_a_site_crashed_between_commit_and_unlock_in_the_sim_settles_deposits_and_removals(
    tmp_path, broker, topics, visit
):
    """The hw_sim crash point, played in-process as the simulator's day would play it."""
    observer = Observer(broker, topics, "L0001")
    (parcel,) = labels(1)
    done = "parcel_deposited" if visit == "deposit" else "parcel_removed"

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            if visit == "deposit":
                slot = await rig.reserve(parcel)
                held_before: tuple[str, ...] = ()
            else:
                slot = await _deposit(rig, agent, parcel)
                command = rig.command(
                    MarkForRemoval(parcels=[parcel], reason=RemovalReason.EXPIRED)
                )
                await agent.handle_command_payload(rig.signed(command))
                held_before = (parcel,)
            crash = asyncio.ensure_future(crash_at_next_unlock(agent, rig.new_agent, 20))
            badge = rig.badge() if visit == "deposit" else rig.badge("returns-1")
            restarted = rig.agent = await _scan_into_crash(rig, agent, badge, parcel, crash)
            lock = restarted.slots[slot].lock
            assert rig.sim.compartment(0, lock).contents == held_before
            record = restarted.store.read().slot(slot)
            if visit == "deposit":
                assert record.state is SlotState.RESERVED and record.parcel is None
                assert restarted.store.read().expected(parcel) is not None
            else:
                assert record.state is SlotState.OCCUPIED and record.parcel == parcel
                assert restarted.store.read().removal_reason(parcel) == "expired"
            assert not restarted.faults, restarted.faults
            # The courier scans the same label again, and this time the door opens.
            if visit == "deposit":
                second = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
                assert parcel in second.placed
            else:
                assert await _remove(rig, parcel, BRISK)
            await eventually_async(lambda: observer.of_type(done), 10, done)
            await eventually_async(lambda: restarted.store.pending_count() == 0, 10, "drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        types = observer.types()
        assert "lock_fault" not in types, types
        assert types.count(done) == 1, types
        assert types.count("parcel_removed") == (1 if visit == "removal" else 0), types
    finally:
        observer.close()


def test_a_door_that_did_open_before_the_crash_is_finished_once(tmp_path, broker, topics):
    """The other side: released, parcel taken, door shut while the agent was down."""
    observer = Observer(broker, topics, "L0001")
    (parcel,) = labels(1)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            slot = await _deposit(rig, agent, parcel)
            code = rig.pickup_code(parcel)
            report = await Consumer(rig.sim, BRISK).pick_up(code, close_door=False)
            assert report.taken == [parcel]
            await eventually_async(
                lambda: agent.store.read().slot(slot).released_at is not None, 5, "released"
            )
            await kill(agent)
            rig.agent = None
            assert rig.sim.compartment(0, agent.slots[slot].lock).close_door()
            restarted = rig.agent = rig.new_agent()
            await restarted.start()
            await eventually_async(
                lambda: restarted.store.read().slot(slot).state is SlotState.FREE, 5, "free"
            )
            code_id = restarted.verifier.pickup_code(code, "L0001", rig.clock.now()).code_id
            assert restarted.store.read().code_used(code_id)
            assert not restarted.faults, restarted.faults
            await eventually_async(lambda: observer.of_type("parcel_picked_up"), 10, "pickup")
            await eventually_async(lambda: restarted.store.pending_count() == 0, 10, "drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        assert len(observer.of_type("parcel_picked_up")) == 1
        assert "lock_fault" not in observer.types()
    finally:
        observer.close()


def test_a_crash_before_a_deposit_unlock_on_a_board_without_sensors_deposits_nothing(
    tmp_path, broker, topics
):
    """The same crash on an RS485 board that cannot see contents: the store's missing
    release record decides, so no phantom deposit reaches central."""
    observer = Observer(broker, topics, "L0001")
    (parcel,) = labels(1, start=300)
    slots = [{"id": f"B{i:02d}", "board": 1, "lock": i, "size": "M"} for i in range(1, 9)]
    overrides = {
        "lock_bus.family": "rs485-8a",
        "lock_bus.rs485_boards": [{"address": 1, "channels": 8}],
        "slots": slots,
    }

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides=overrides)
        rig.sim = SimulatedSite(
            rig.clock,
            SimConfig(profile=BoardFamily.RS485_8A, board_options=Rs485Options(channels=8)),
        )
        agent = await rig.start()
        try:
            slot = await rig.reserve(parcel)
            crash = asyncio.ensure_future(crash_at_next_unlock(agent, rig.new_agent, 20))
            restarted = rig.agent = await _scan_into_crash(rig, agent, rig.badge(), parcel, crash)
            record = restarted.store.read().slot(slot)
            assert record.state is SlotState.RESERVED and record.parcel is None
            second = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in second.placed
            await eventually_async(lambda: observer.of_type("parcel_deposited"), 10, "deposit")
            await eventually_async(lambda: restarted.store.pending_count() == 0, 10, "drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        assert observer.types().count("parcel_deposited") == 1, observer.types()
    finally:
        observer.close()
