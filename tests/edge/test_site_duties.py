"""Counter mode, expiry removals, diagnostics, technicians, start-up reconciliation, and many
agents on one event loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from edge.agent import SiteAgent
from edge.config import parse_config
from edge.drivers.links import ByteLink, Opener
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.people.people import Consumer, Courier
from protocols.clock import SystemClock
from protocols.messages import (
    MarkForRemoval,
    RemovalReason,
    ReserveSlot,
    RunDiagnostics,
    ScanRefusal,
    SlotState,
)
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def test_expired_parcels_are_removed_by_a_courier_and_each_removal_reported(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    parcels = labels(3, start=1000)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            for parcel in parcels:
                await rig.reserve(parcel)
            await Courier(rig.sim, BRISK).deposit(rig.badge(), parcels)
            await eventually_async(
                lambda: (
                    sum(1 for s in agent.store.read().slots() if s.state is SlotState.OCCUPIED) == 3
                )
            )
            expired = parcels[:2]
            command = rig.command(MarkForRemoval(parcels=expired, reason=RemovalReason.EXPIRED))
            await agent.handle_command_payload(rig.signed(command))
            report = await Courier(rig.sim, BRISK).deposit(rig.badge("courier-9"), [])
            assert report.placed == {}
            # The removal courier scans each expired label; each door opens, they take it.
            courier = Courier(rig.sim, BRISK)
            await courier.scan(rig.badge("courier-9"), None)
            for parcel in expired:
                door = await courier.scan_and_wait(parcel, None)
                assert door is not None and door.take() == [parcel]
                assert door.close_door()
            # The third is not expired: scanning it opens nothing.
            await scan_opens_nothing(agent, rig.sim, parcels[2], None)
            await eventually_async(
                lambda: (
                    sum(1 for s in agent.store.read().slots() if s.state is SlotState.FREE) == 15
                )
            )
            await eventually_async(lambda: agent.store.pending_count() == 0)
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        removed = observer.of_type("parcel_removed")
        assert sorted(e.payload.parcel for e in removed) == sorted(parcels[:2])
        assert all(e.payload.courier == "courier-9" for e in removed)
        assert all(e.payload.reason is RemovalReason.EXPIRED for e in removed)
    finally:
        observer.close()


def _counter_config(rig: SiteRig) -> dict:
    return {
        "site_id": "C0001",
        "kind": "counter",
        "state_dir": str(rig.tmp / "counter"),
        "central_public_key": str(rig.tmp / "central.pub"),
        "broker": {"host": rig.broker.host, "port": rig.broker.port, "topic_root": rig.topics.root},
        "scanner": {"port": str(rig.devices_dir / "scanner")},
        "shelf_capacity": 2,
        # The consumer below shows the same code again at once, deliberately: with no
        # re-read window that is a new scan (by default a re-read, answered as before).
        "timing": {"scan_reread_window_s": 0},
    }


def test_a_counter_checks_parcels_in_up_to_its_shelves_and_hands_them_over(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "C0001")
    parcels = labels(3, start=2000)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        rig.sim.serve_pty(rig.devices_dir)
        config = parse_config(_counter_config(rig))
        from edge.drivers.links import serial_opener

        agent = SiteAgent(
            config,
            clock=rig.clock,
            verifier=rig.signer.verifier(),
            scanner_opener=serial_opener(str(rig.devices_dir / "scanner"), 9600),
        )
        await agent.start()
        try:
            for parcel in parcels:
                body = ReserveSlot(parcel=parcel, size="L", until=rig.clock.now() + 3600)
                await agent.handle_command_payload(rig.signed(rig.command(body, site="C0001")))
            courier = Courier(rig.sim, BRISK)
            await courier.scan(rig.badge(), None)
            for parcel in parcels:
                await courier.scan(parcel, None)
            await eventually_async(lambda: agent.store.read().shelved() == 2, what="check-in")
            code = rig.pickup_code(parcels[0], site="C0001")
            await Consumer(rig.sim, BRISK).scan(code, None)
            await eventually_async(lambda: agent.store.read().shelved() == 1, what="handover")
            await Consumer(rig.sim, BRISK).scan(code, None)  # the same code again
            await eventually_async(lambda: agent.store.pending_count() == 0)
            await eventually_async(lambda: len(observer.of_type("scan_refused")) == 2)
        finally:
            await agent.stop()
            await rig.sim.aclose()

    asyncio.run(scenario())
    try:
        checked_in = [e.payload.parcel for e in observer.of_type("parcel_deposited")]
        assert checked_in == parcels[:2]  # the third found the shelves full
        assert [e.payload.parcel for e in observer.of_type("parcel_picked_up")] == parcels[:1]
        reasons = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert reasons == [ScanRefusal.NO_FREE_SLOT, ScanRefusal.ALREADY_USED]
    finally:
        observer.close()


def test_diagnostics_on_the_device_and_by_remote_command(tmp_path, broker, topics):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        from edge.host import control

        path = control.socket_path(rig.config.state_dir, "L0001")
        server = await control.serve(agent, path)
        try:
            assert path.stat().st_mode & 0o077 == 0  # the technician's only
            config_file = tmp_path / "site.toml"
            config_file.write_text(
                f'site_id = "L0001"\nstate_dir = "{rig.config.state_dir}"\n'
                f'central_public_key = "{rig.config.central_public_key}"\nkind = "counter"\n'
                "shelf_capacity = 1\n"
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "protocols.cli",
                "edge",
                "diag",
                "--config",
                str(config_file),
                "--json",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            assert proc.returncode == 0
            report = json.loads(out)
            assert report["boards"] == [
                {"board": 0, "present": True, "reply_ms": report["boards"][0]["reply_ms"]}
            ]
            assert len(report["slots"]) == 16 and all(s["agrees"] for s in report["slots"])
            assert report["scanner"]["connected"] is True
            assert report["serial"]["port_open"] is True
            # The technician takes A03 out of service and back, through the same socket.
            answer = await control.ask(path, {"op": "slot", "slot": "A03", "in_service": False})
            assert answer == {"ok": True}
            assert agent.store.read().slot("A03").state is SlotState.OUT_OF_SERVICE
            await control.ask(path, {"op": "slot", "slot": "A03", "in_service": True})
            assert agent.store.read().slot("A03").state is SlotState.FREE
            bad = await control.ask(path, {"op": "slot", "slot": "Z99", "in_service": False})
            assert bad["ok"] is False and "unknown_slot" in bad["error"]
            # Remotely: central's RunDiagnostics gets the same report in the reply.
            await eventually_async(lambda: b'"online":true' in observer.retained.get("status", b""))
            command = rig.command(RunDiagnostics())
            observer.send(rig.signed(command))
            await eventually_async(lambda: observer.reply_to(command.id) is not None)
            await eventually_async(lambda: agent.store.pending_count() == 0)
        finally:
            server.close()
            await rig.stop()

    asyncio.run(scenario())
    try:
        reply = observer.reply_to(next(r.command_id for r in observer.replies))
        assert reply is not None and reply.ok and reply.result is not None
        assert reply.result["boards"][0]["present"] is True
        assert [e.type for e in observer.of_type("slot_out_of_service")] == ["slot_out_of_service"]
        assert len(observer.of_type("slot_back_in_service")) == 1
    finally:
        observer.close()


def test_start_up_reconciliation_reports_what_happened_while_the_agent_was_down(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    parcel = labels(1, start=3000)[0]

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        slot = await rig.reserve(parcel)
        await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.OCCUPIED)
        await eventually_async(lambda: agent.store.pending_count() == 0)
        await agent.stop()
        # While the agent is down: A05's door is pried open, and the parcel is stolen.
        lock = rig.config.slots[[s.id for s in rig.config.slots].index(slot)].lock
        compartment = rig.sim.compartment(0, lock)
        compartment.force_open()
        compartment.take()
        rig.sim.compartment(0, 5).force_open()
        assert compartment.close_door()
        agent = rig.agent = rig.new_agent()
        await agent.start()
        try:
            assert agent.store.read().slot(slot).state is SlotState.FAULT
            await eventually_async(lambda: agent.store.pending_count() == 0)
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        assert [e.payload.slot for e in observer.of_type("door_forced")] == ["A05"]
        faults = observer.of_type("sensor_fault")
        assert len(faults) == 1 and faults[0].payload.detail == "parcel no longer seen"
    finally:
        observer.close()


def _memory_opener(port) -> Opener:
    async def open_port() -> ByteLink:
        return port.open()

    return open_port


def test_many_agents_share_one_event_loop_without_a_thread_each(tmp_path, broker, topics):
    count = 40

    async def scenario() -> None:
        from protocols.tokens import TokenSigner

        signer = TokenSigner.generate()
        key = tmp_path / "central.pub"
        key.write_bytes(signer.verifier().public_pem())
        threads_before = threading.active_count()
        agents, sims = [], []
        for i in range(count):
            sim = SimulatedSite(SystemClock(), SimConfig(boards=1, seed=i))
            locks, scanner = sim.serve_memory()
            config = parse_config(
                {
                    "site_id": f"M{i:04d}",
                    "state_dir": str(tmp_path / "sites"),
                    "central_public_key": str(key),
                    "broker": {"host": broker.host, "port": broker.port, "topic_root": topics.root},
                    "lock_bus": {"port": "mem", "boards": [0], "poll_interval_s": 0.2},
                    "scanner": {"port": "mem"},
                    "slots": [{"id": "A01", "board": 0, "lock": 1, "size": "M"}],
                }
            )
            agent = SiteAgent(
                config,
                clock=sim.clock,
                verifier=signer.verifier(),
                lock_opener=_memory_opener(locks),
                scanner_opener=_memory_opener(scanner),
                durable=False,
            )
            await agent.start()
            agents.append(agent)
            sims.append(sim)
        try:
            await eventually_async(lambda: all(a.link.connected for a in agents), 20)
            # The blocking TCP connects ran on the loop's small default executor; nothing
            # else made a thread, whatever the number of agents.
            assert threading.active_count() - threads_before <= 8
        finally:
            for agent in agents:
                await agent.stop()
            for sim in sims:
                await sim.aclose()

    asyncio.run(scenario())


def test_edge_help_lists_the_technician_commands():
    result = subprocess.run(
        [sys.executable, "-m", "protocols.cli", "edge", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("run", "diag", "slot", "maintenance"):
        assert command in result.stdout
