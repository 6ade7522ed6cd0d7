"""A locker keeps working without the broker and loses nothing: the broker stopped mid-run,
and the agent killed (-9) between a door closing and the event's publish."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from hw_sim.people.people import Consumer, Courier
from protocols.messages import ReserveSlot, SlotState
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually, eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def test_pickups_go_on_offline_and_every_event_arrives_once_in_order(tmp_path, own_broker, topics):
    observer = Observer(own_broker, topics, "L0001", persistent=True)
    parcels = labels(4)

    async def scenario() -> int:
        rig = SiteRig(tmp_path, own_broker, topics)
        agent = await rig.start()
        try:
            for parcel in parcels:
                await rig.reserve(parcel)
            courier = Courier(rig.sim, BRISK)
            report = await courier.deposit(rig.badge(), parcels[:3])
            assert len(report.placed) == 3
            await eventually_async(lambda: agent.store.pending_count() == 0, what="online drain")

            own_broker.stop()
            await eventually_async(lambda: not agent.link.connected, what="the link to drop")
            # Offline: consumers still get their parcels, a courier still delivers.
            for parcel in parcels[:2]:
                pickup = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
                assert pickup.taken == [parcel], pickup
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), parcels[3:])
            assert len(report.placed) == 1
            await eventually_async(
                lambda: (
                    agent.store.read().slot_holding(parcels[3]) is not None
                    and agent.store.read().slot_holding(parcels[3]).state is SlotState.OCCUPIED
                ),
                what="the offline deposit",
            )
            assert agent.store.pending_count() > 0  # held in the outbox, not lost

            own_broker.start()
            await eventually_async(lambda: agent.store.pending_count() == 0, 20, "drain after")
            return agent.store.last_seq()
        finally:
            await rig.stop()

    last_seq = asyncio.run(scenario())
    try:
        eventually(lambda: len(observer.unique_seqs()) >= last_seq, 10, "all events observed")
        seqs = observer.unique_seqs()
        assert seqs == list(range(1, last_seq + 1))  # none lost, in order
        picked = [e.payload.parcel for e in observer.of_type("parcel_picked_up")]
        deposited = [e.payload.parcel for e in observer.of_type("parcel_deposited")]
        assert sorted(set(picked)) == sorted(parcels[:2])
        assert sorted(set(deposited)) == sorted(parcels)
    finally:
        observer.close()


def _pending_types(store: Path) -> list[str]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT message FROM outbox WHERE acked_at IS NULL ORDER BY seq")
        return [bytes(r[0]).decode() for r in rows]


def test_kill_9_between_door_close_and_publish_delivers_the_event_once(
    tmp_path, own_broker, topics
):
    observer = Observer(own_broker, topics, "L0001", persistent=True)
    (parcel,) = labels(1)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, own_broker, topics)
        rig.sim.serve_pty(rig.devices_dir)
        config_file = tmp_path / "site.toml"
        config_file.write_text(_toml(rig))
        store = rig.config.store_path

        async def start_agent() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "protocols.cli",
                "edge",
                "run",
                "--config",
                str(config_file),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )

        agent = await start_agent()
        try:
            await eventually_async(
                lambda: b'"online":true' in observer.retained.get("status", b""), 15, "online"
            )
            command = rig.command(
                ReserveSlot(parcel=parcel, size="M", until=rig.clock.now() + 3600)
            )
            observer.send(rig.signed(command))
            await eventually_async(lambda: observer.reply_to(command.id) is not None, 10)
            assert observer.reply_to(command.id).ok
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in report.placed
            await eventually_async(lambda: observer.of_type("parcel_deposited"), 10, "deposit")

            own_broker.stop()
            pickup = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
            assert pickup.taken == [parcel]
            # The door closed and the agent wrote the pickup to its outbox; it cannot publish.
            await eventually_async(
                lambda: any("parcel_picked_up" in m for m in _pending_types(store)), 10
            )
            agent.send_signal(signal.SIGKILL)
            await agent.wait()

            own_broker.start()
            agent = await start_agent()
            await eventually_async(lambda: observer.of_type("parcel_picked_up"), 20, "pickup")
            await eventually_async(lambda: not _pending_types(store), 10, "outbox drained")
        finally:
            if agent.returncode is None:
                agent.send_signal(signal.SIGTERM)
                await agent.wait()
            await rig.sim.aclose()

    asyncio.run(scenario())
    try:
        picked = observer.of_type("parcel_picked_up")
        assert {e.seq for e in picked} == {picked[0].seq}  # one event, whatever the retries
        assert picked[0].payload.parcel == parcel
        seqs = observer.unique_seqs()
        assert seqs == list(range(1, max(seqs) + 1))
    finally:
        observer.close()


def _toml(rig: SiteRig) -> str:
    config = rig.config
    assert config.lock_bus is not None and config.scanner is not None
    lines = [
        f'site_id = "{config.site_id}"',
        f'state_dir = "{config.state_dir}"',
        f'central_public_key = "{config.central_public_key}"',
        "[broker]",
        f'host = "{config.broker.host}"',
        f"port = {config.broker.port}",
        f'topic_root = "{config.broker.topic_root}"',
        "[lock_bus]",
        f'port = "{config.lock_bus.port}"',
        "boards = [0]",
        "poll_interval_s = 0.05",
        "reply_timeout_s = 0.3",
        "[scanner]",
        f'port = "{config.scanner.port}"',
        "[timing]",
        "reconnect_min_s = 0.2",
        "reconnect_max_s = 1.0",
        "republish_after_s = 2",
    ]
    for slot in config.slots:
        lines += [
            "[[slots]]",
            f'id = "{slot.id}"',
            f"board = {slot.board}",
            f"lock = {slot.lock}",
            f'size = "{slot.size.value}"',
        ]
    return "\n".join(lines) + "\n"
