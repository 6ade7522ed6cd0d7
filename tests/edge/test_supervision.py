"""A task that dies is restarted, and says so; a store that cannot write opens no door.

Real agents on real ptys and a real broker; the full disk is the real SQLite refusing
(hw_sim.field.host_faults.DiskFull), the watchdog a real datagram socket like systemd's.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time

import pytest

from edge.agent import STORE_REFUSAL, SiteAgent
from edge.host import control, service
from edge.store.sqlite import BUSY_TIMEOUT_S, StoreUnavailable
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY
from hw_sim.field.host_faults import DiskFull
from hw_sim.people.people import Courier
from protocols.messages import (
    FaultComponent,
    OpenSlot,
    ReplyReason,
    ScannerFaultCode,
    SizeClass,
    SlotState,
    StateSnapshot,
    decode,
)
from tests.edge.answers import scan_answered
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

STORE_FAULT = (FaultComponent.STORE.value, "store", "write_failed")


async def _start(rig: SiteRig, restart_min_s: float = 0.2, stable_s: float = 0.5) -> SiteAgent:
    rig.sim.serve_pty(rig.devices_dir)
    agent = rig.agent = rig.new_agent()
    agent.tasks.restart_min_s = restart_min_s
    agent.tasks.stable_s = stable_s
    await agent.start()
    return agent


def _fail_once(agent: SiteAgent) -> None:
    """The timers' next tick raises, as an unforeseen error would; later ticks work."""
    real_tick = agent.tick
    calls = 0

    def tick() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("an error nobody foresaw")
        real_tick()

    agent.tick = tick  # type: ignore[method-assign]


def _snapshot_faults(observer: Observer) -> set[tuple[str, str]]:
    raw = observer.retained.get("state")
    if raw is None:
        return set()
    return {(f.component.value, f.ref or "") for f in decode(StateSnapshot, raw).faults}


def test_a_task_that_raises_is_restarted_and_its_fault_raised_then_cleared(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig)
        try:
            await eventually_async(lambda: agent.link.connected, what="connected")
            _fail_once(agent)
            await eventually_async(
                lambda: ("agent", "timers") in _snapshot_faults(observer), 10, "fault at central"
            )
            await eventually_async(
                lambda: any(e.payload.ref == "timers" for e in observer.of_type("fault_cleared")),
                10,
                "the fault cleared once the timers ran again",
            )
            assert agent.tasks.records["timers"].restarts == 1
            assert "an error nobody foresaw" in (agent.tasks.records["timers"].last_error or "")
            assert agent.alive()
            # The restarted timers do their duties: a door left open is noticed again.
            slot = await rig.reserve(labels(1, start=8000)[0])
            assert agent.store.read().slot(slot).state is SlotState.RESERVED
        finally:
            await rig.stop()

    asyncio.run(scenario())
    observer.close()


def test_the_watchdog_is_not_fed_while_a_task_is_dead(tmp_path, broker, topics, monkeypatch):
    notify = tmp_path / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(notify))
    receiver.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify))
    interval = 0.05
    heard: list[float] = []
    # Each feed as it is sent, with the tasks that were down at that moment: the receiving
    # end reads a datagram a loop iteration later, and under load that is no measure of when
    # the watchdog fed it.
    fed_while_down: list[tuple[str, ...]] = []
    agent_box: list[SiteAgent] = []
    real_notify = service.systemd.notify

    def notify_recorded(state: str) -> bool:
        if agent_box and agent_box[0].tasks.down():
            fed_while_down.append(tuple(agent_box[0].tasks.down()))
        return real_notify(state)

    monkeypatch.setattr(service.systemd, "notify", notify_recorded)

    def on_datagram() -> None:
        while True:
            try:
                if receiver.recv(64) == b"WATCHDOG=1":
                    heard.append(time.monotonic())
            except BlockingIOError:
                return

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig, restart_min_s=1.0, stable_s=0.2)
        agent_box.append(agent)
        loop = asyncio.get_running_loop()
        loop.add_reader(receiver.fileno(), on_datagram)
        dog = asyncio.ensure_future(service._watchdog(agent, interval))
        try:
            await eventually_async(lambda: len(heard) >= 3, 5, "the watchdog fed")
            _fail_once(agent)
            await eventually_async(lambda: "timers" in agent.tasks.down(), 5, "the task dead")
            died = time.monotonic()
            await eventually_async(lambda: not agent.tasks.down(), 5, "the task restarted")
            back = time.monotonic()
            # Fed again once every task runs: the sentinel that feeds would have been heard.
            await eventually_async(lambda: heard[-1] > back, 5, "the watchdog fed again")
            assert back - died > 0.5
            assert fed_while_down == []
        finally:
            dog.cancel()
            loop.remove_reader(receiver.fileno())
            receiver.close()
            await rig.stop()

    asyncio.run(scenario())


def test_a_full_disk_opens_no_door_says_why_and_the_site_serves_again_when_space_returns(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    parcels = labels(12, start=8100)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig)
        try:
            for parcel in parcels:
                await rig.reserve(parcel, SizeClass.S)
            disk = DiskFull(agent)
            disk.fill()
            await scan_answered(agent, rig.sim, rig.badge(), QR_SYMBOLOGY)
            refused = None
            for parcel in parcels:
                # Writes that still fit in a page's spare room go through, as on a real
                # card; the first that needs space is refused, and it must open nothing.
                answer = await scan_answered(agent, rig.sim, parcel, LABEL_SYMBOLOGY)
                if answer.refusal is not None:
                    refused = parcel
                    assert answer.refusal == STORE_REFUSAL and answer.slot is None
                    assert answer.opened == []
                    break
                assert answer.opened, "a door must open for a scan that was not refused"
                door = rig.sim.compartment(*answer.opened[0])
                door.place(parcel)
                assert door.close_door()
            assert refused is not None, "the full disk never refused a write"
            expected = agent.store.read().expected(refused)
            assert expected is not None and expected.slot is not None
            assert agent.store.read().slot(expected.slot).state is SlotState.RESERVED
            assert STORE_FAULT in agent.faults
            assert "SQLITE_FULL" in (agent.faults[STORE_FAULT].detail or "")
            # Central hears of it although no event can be written: the snapshot says so.
            await eventually_async(
                lambda: ("store", "store") in _snapshot_faults(observer), 10, "store fault"
            )

            disk.free()
            await eventually_async(
                lambda: any(e.payload.ref == "store" for e in observer.of_type("fault_cleared")),
                10,
                "the store fault cleared",
            )
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [refused])
            assert refused in report.placed
            await eventually_async(
                lambda: agent.store.read().slot(expected.slot).state is SlotState.OCCUPIED,
                what="the refused parcel deposited once space returned",
            )
            # Every door that opened while the disk filled has its record, and reached central.
            await eventually_async(lambda: agent.store.pending_count() == 0, 10, "drained")
            opened = {e.payload.slot for e in observer.of_type("door_opened")}
            moved = {rig.config.slots[c.slot - 1].id for c in rig.sim.compartments() if c.openings}
            assert moved == opened
        finally:
            await rig.stop()

    asyncio.run(scenario())
    observer.close()


def test_a_locked_database_refuses_the_scan_quickly_instead_of_freezing_the_site(
    tmp_path, broker, topics
):
    parcel, other = labels(2, start=8200)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig)
        try:
            await rig.reserve(parcel, SizeClass.S)
            await scan_answered(agent, rig.sim, rig.badge(), QR_SYMBOLOGY)
            # A technician's sqlite3 shell (or a backup) holds the write lock.
            rival = sqlite3.connect(rig.config.store_path, isolation_level=None)
            rival.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            answer = await scan_answered(agent, rig.sim, parcel, LABEL_SYMBOLOGY)
            assert answer.opened == [] and answer.refusal == STORE_REFUSAL
            # The scan waited for SQLite's lock a moment, not Python's default 5 s.
            assert agent.scan_latencies_ms[-1] < 20 * BUSY_TIMEOUT_S * 1000
            assert time.monotonic() - started < 3
            assert STORE_FAULT in agent.faults and "SQLITE_BUSY" in (
                agent.faults[STORE_FAULT].detail or ""
            )
            rival.execute("ROLLBACK")
            rival.close()
            await eventually_async(lambda: STORE_FAULT not in agent.faults, 10, "cleared")
            await scan_answered(agent, rig.sim, other, LABEL_SYMBOLOGY)  # not a re-read
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in report.placed
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_lock_bus_reader_that_dies_is_restarted_and_doors_open_again(tmp_path, broker, topics):
    (parcel,) = labels(1, start=8300)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig)
        try:
            assert agent.driver is not None
            reassembler = agent.driver.bus.reassembler
            real_feed = reassembler.feed
            calls = 0

            def feed(data: bytes) -> list[bytes]:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise RuntimeError("bytes nobody foresaw")
                return list(real_feed(data))

            reassembler.feed = feed  # type: ignore[method-assign]
            key = (FaultComponent.AGENT.value, "lock bus", "task_died")
            await eventually_async(lambda: key in agent.faults, 10, "the reader's fault")
            # Restarted (after the supervisor's backoff): the bus is heard again, and a
            # courier's door opens.
            await eventually_async(lambda: not agent.tasks.down(), 10, "the reader restarted")
            # A poll that went unheard while the reader was dead may have called the board
            # down; the first reading after the restart brings it back (and its slots with it).
            await eventually_async(lambda: not agent.boards_down, 10, "the board heard again")
            await rig.reserve(parcel, SizeClass.S)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in report.placed
            await eventually_async(lambda: key not in agent.faults, 10, "the fault cleared")
            assert agent.tasks.records["lock bus"].restarts == 1
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_remote_open_and_a_technician_on_a_full_disk_are_refused_with_the_reason(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig)
        path = control.socket_path(rig.config.state_dir, "L0001")
        server = await control.serve(agent, path)
        try:
            await eventually_async(lambda: agent.link.connected, what="connected")
            disk = DiskFull(agent)
            disk.fill()
            # Fill the pages' spare room the way a busy site would: until a write fails.
            for i in range(200):
                answer = await control.ask(
                    path, {"op": "slot", "slot": f"A{i % 8 + 1:02d}", "in_service": i // 8 % 2 == 1}
                )
                if not answer["ok"]:
                    break
            assert "SQLITE_FULL" in answer["error"], answer  # the technician reads why
            openings = sum(c.openings for c in rig.sim.compartments())
            command = rig.command(OpenSlot(slot="A16", reason="support call"))
            observer.send(rig.signed(command))
            await eventually_async(lambda: observer.reply_to(command.id) is not None, 10)
            reply = observer.reply_to(command.id)
            assert reply is not None and not reply.ok
            assert reply.reason is ReplyReason.HARDWARE_FAULT and "SQLITE_FULL" in (
                reply.detail or ""
            )
            assert sum(c.openings for c in rig.sim.compartments()) == openings
            assert STORE_FAULT in agent.faults
        finally:
            server.close()
            await rig.stop()

    asyncio.run(scenario())
    observer.close()


def _exhaust(agent: SiteAgent) -> None:
    """Use up the spare room in the store's pages, as a busy site would: write (take slots
    out of service and back) until the full disk refuses a write."""
    for i in range(400):
        try:
            agent.set_service(f"A{i % 8 + 1:02d}", i // 8 % 2 == 1, "tech-1", "test")
        except StoreUnavailable:
            return
    raise AssertionError("the full disk never refused a write")


def test_a_scanner_unplugged_on_a_full_disk_keeps_its_reader_and_comes_back(
    tmp_path, broker, topics
):
    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await _start(rig)
        try:
            assert agent.scanner is not None
            await eventually_async(lambda: agent.scanner.status.connected, what="scanner")
            disk = DiskFull(agent)
            disk.fill()
            _exhaust(agent)
            rig.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, True)
            key = (FaultComponent.SCANNER.value, "scanner", ScannerFaultCode.UNPLUGGED.value)
            # Its event cannot be written; the fault stands, and the reader lives on.
            await eventually_async(lambda: key in agent.faults, 10, "the scanner fault")
            assert STORE_FAULT in agent.faults
            disk.free()
            rig.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, False)
            await eventually_async(lambda: agent.scanner.status.connected, 15, "plugged back")
            await eventually_async(lambda: key not in agent.faults, 10, "scanner fault cleared")
            await eventually_async(lambda: STORE_FAULT not in agent.faults, 10, "store cleared")
            assert agent.tasks.records["scanner"].restarts == 0
            assert agent.alive()
        finally:
            await rig.stop()

    asyncio.run(scenario())
