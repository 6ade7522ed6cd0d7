"""A hostile review of issue 11's field fixes: inputs a real field produces, aimed at opening
a door for the wrong person, losing or doubling an event, locking out an honest person, or
stopping the agent. Real agents, hw_sim devices on real ptys, a real broker, real SQLite.

Each test here is an attack that broke the fixes (and the fix it led to), or one that held
and asserts what a person at the site would notice.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sqlite3
import time
from dataclasses import dataclass, field

import pytest

from central.sites.commands import CommandSender
from central.store import SqliteStore
from edge.agent import SiteAgent
from edge.config import LockBusConfig
from edge.drivers.links import ByteLink, serial_opener
from edge.drivers.lockboard import LockBoardDriver
from edge.errors import LockDidNotRelease
from edge.host.ownership import lock_path
from edge.host.supervisor import Supervisor
from edge.site import clock_guard
from edge.site.clock_guard import WALL_ACCEPT_S, ClockGuard
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.rs485_board import Rs485Options
from hw_sim.devices.site import QR_SYMBOLOGY, SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.field.central_clock import central_clock_ahead, site_time_dragged
from hw_sim.field.echo_glitch import GlitchingLink, with_turnround_glitch
from hw_sim.field.host_faults import DiskFull
from hw_sim.field.wall_clock import WrongClock
from hw_sim.people.people import Consumer, Courier
from hw_sim.people.stack_in_view import StackCourier
from protocols.boards import BoardFamily, rs485
from protocols.boards.rs485 import Feedback
from protocols.clock import ManualClock, SystemClock
from protocols.messages import (
    Command,
    FaultComponent,
    Heartbeat,
    OpenSlot,
    ReplyReason,
    ResendState,
    ReserveSlot,
    ScanRefusal,
    SizeClass,
    SlotState,
    StateSnapshot,
    decode,
)
from protocols.scanner import ScanLineSplitter
from protocols.tokens import TokenSigner
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

DAY_S = 86_400.0


@dataclass
class WrongClockRig(SiteRig):
    """The agent reads a wall clock the test sets wrong; central and the people keep true time."""

    wall: WrongClock = field(default_factory=lambda: WrongClock(SystemClock()))

    def new_agent(self) -> SiteAgent:
        bus, scanner = self.config.lock_bus, self.config.scanner
        assert bus is not None and scanner is not None
        return SiteAgent(
            self.config,
            clock=self.wall,
            verifier=self.signer.verifier(),
            lock_opener=serial_opener(bus.port, bus.baud_rate),
            scanner_opener=serial_opener(scanner.port, scanner.baud),
        )


def _issued_at(rig: SiteRig, body: ReserveSlot | ResendState, at: float, ttl: float) -> Command:
    command = rig.command(body, ttl=ttl)
    return command.model_copy(update={"issued_at": at, "expires_at": at + ttl})


def _occupied(agent: SiteAgent, parcel: str) -> bool:
    slot = agent.store.read().slot_holding(parcel)
    return slot is not None and slot.state is SlotState.OCCUPIED


# ------------------------------------------------------------------ time (kinds 3, 4)


def test_a_command_signed_by_a_central_a_day_ahead_neither_expires_codes_nor_lapses_reservations(
    tmp_path, broker, topics
):
    """Central's clock is stepped a day ahead for a moment and it signs one ReserveSlot and
    one OpenSlot (hw_sim.field.central_clock). The site witnessed their `issued_at`: its trusted
    time leapt a day (saved, never lowered), the commands passed, every pickup code then
    looked expired and every reservation lapsed at the next tick. Now a leap ahead of a sure
    clock waits for confirmation: both refused as not yet valid, no door moves, the
    consumer's door opens and the courier's reservation holds."""
    observer = Observer(broker, topics, "L0001")
    central = SqliteStore(tmp_path / "central.sqlite")
    signer = TokenSigner.generate()
    central_wall = WrongClock(SystemClock())

    def publish(topic: str, payload: bytes, expiry_s: int, _broker: str | None = None) -> None:
        observer.client.publish(topic, payload, qos=1)

    sender = CommandSender(central, signer, topics, central_wall, publish, 3600)
    sent: list[str] = []

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, signer=signer)
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            waiting, reserved, from_future = labels(3, start=9100)
            await rig.reserve(waiting)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [waiting])
            assert list(report.placed) == [waiting]
            await eventually_async(lambda: _occupied(agent, waiting), what="the deposit")
            slot = await rig.reserve(reserved)
            openings = {(c.board, c.slot): c.openings for c in rig.sim.compartments()}

            with central_clock_ahead(central_wall, DAY_S):
                until = central_wall.now() + 3600
                ahead = [
                    sender.send(
                        "L0001", ReserveSlot(parcel=from_future, size=SizeClass.S, until=until)
                    ),
                    sender.send("L0001", OpenSlot(slot="A05", reason="support call")),
                ]
            sent.extend(c.id for c in ahead)
            await eventually_async(
                lambda: all(observer.reply_to(c.id) for c in ahead), 10, "the replies"
            )
            assert site_time_dragged(agent, time.time()) is None
            agent.tick()  # what lapses goes by the witnessed time
            assert agent.store.read().slot(slot).state is SlotState.RESERVED
            assert agent.store.read().expected(from_future) is None

            pickup = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(waiting))
            assert pickup.taken == [waiting]
            await eventually_async(
                lambda: len(observer.of_type("parcel_picked_up")) == 1, 10, "the pickup"
            )
            moved = [k for k, c in openings.items() if rig.sim.compartment(*k).openings != c]
            assert moved == [report.placed[waiting]]  # the pickup's door alone
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        answers = [observer.reply_to(command_id) for command_id in sent]
        assert [(a.ok, a.reason) for a in answers if a is not None] == [
            (False, ReplyReason.NOT_YET_VALID),
            (False, ReplyReason.NOT_YET_VALID),
        ]
        assert observer.of_type("scan_refused") == []
    finally:
        observer.close()
        central.close()


def test_a_site_whose_clock_and_store_are_both_days_stale_is_put_right_by_confirmed_central_time(
    tmp_path, broker, topics, monkeypatch
):
    """The other member of the leap: a Pi off for days boots with fake-hwclock's saved time
    and a store saved then, both two days behind (they agree, so the clock looks sure). Its
    first signed time from central is a leap and waits; a second one received later with the
    same offset is taken in, and a code that expired yesterday is refused from then on."""
    monkeypatch.setattr(clock_guard, "LEAP_CONFIRM_AFTER_S", 0.5)
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = WrongClockRig(tmp_path, broker, topics)
        rig.wall.step(-2 * DAY_S)
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            parcel = labels(1, start=9200)[0]
            # Reserved and deposited by central's clock, which the stale site accepts (its
            # trusted now is behind, never ahead, of these times: not yet valid only by skew).
            first = _issued_at(rig, ResendState(), time.time(), 60)
            await agent.handle_command_payload(rig.signed(first))
            await eventually_async(lambda: observer.reply_to(first.id) is not None, 10, "reply")
            assert observer.reply_to(first.id).reason is ReplyReason.NOT_YET_VALID
            assert agent.clock_guard.proven() < time.time() - DAY_S  # not taken in alone
            await asyncio.sleep(0.6)  # central's next signed time comes later (a wait is
            # the input here: the confirmation is about monotonic time between two times)
            second = _issued_at(rig, ResendState(), time.time(), 60)
            await agent.handle_command_payload(rig.signed(second))
            await eventually_async(lambda: observer.reply_to(second.id) is not None, 10, "reply")
            assert observer.reply_to(second.id).ok
            assert abs(agent.clock.now() - time.time()) < 5

            await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert list(report.placed) == [parcel]
            await eventually_async(lambda: _occupied(agent, parcel), what="the deposit")
            await scan_opens_nothing(agent, rig.sim, rig.pickup_code(parcel, expires_in=-DAY_S))
            good = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
            assert good.taken == [parcel]
            await eventually_async(
                lambda: len(observer.of_type("parcel_picked_up")) == 1, 10, "the pickup"
            )
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        refusals = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert refusals == [ScanRefusal.EXPIRED]
    finally:
        observer.close()


# ----------------------------------------------------------------- lockout (kind 9)


def test_an_unexpected_label_read_between_a_couriers_others_locks_nobody_out(
    tmp_path, broker, topics
):
    """A courier holds a stack of parcels in a presentation scanner's view: it reads the label
    on top, whose reservation has not reached the site, between each of the others. Each of
    its reads came after another code, so each counted as a new guess: the fifth locked the
    site out for five minutes, the courier's last parcel and the next consumer with it. Now
    one text counts once within the failure window."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            stray, *expected = labels(7, start=9300)
            for parcel in expected:
                await rig.reserve(parcel)
            courier = StackCourier(rig.sim, BRISK)
            report = await courier.deposit_with_stray(rig.badge(), expected, stray)
            assert sorted(report.placed) == sorted(expected), report
            for parcel in expected:
                await eventually_async(lambda p=parcel: _occupied(agent, p), what="deposits")
            pickup = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(expected[0]))
            assert pickup.taken == [expected[0]]
            await eventually_async(
                lambda: len(observer.of_type("parcel_picked_up")) == 1, 10, "the pickup"
            )
            assert not agent.scan_lockout.locked_out(agent.clock.monotonic())
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        assert observer.of_type("scanner_locked_out") == []
        assert len(observer.of_type("parcel_deposited")) == 6
    finally:
        observer.close()


# -------------------------------------------------------------- supervision (kind 6)


def _snapshot_faults(observer: Observer) -> set[tuple[str, str]]:
    raw = observer.retained.get("state")
    if raw is None:
        return set()
    return {(f.component.value, f.ref or "") for f in decode(StateSnapshot, raw).faults}


def test_a_task_cancelled_from_within_is_restarted_and_reported_not_left_for_dead(
    tmp_path, broker, topics
):
    """A task that ends with CancelledError though nobody stopped it (a future it awaited was
    cancelled under it, as a closed transport does): the supervisor took it for its own
    cancellation and its keeper ended for good, silently, the task still counted alive and
    the watchdog fed. Here the timers die that way once: the fault reaches central, the
    timers come back, and a reservation lapses on time again."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides={"timing.timer_interval_s": 0.05})
        rig.sim.serve_pty(rig.devices_dir)
        agent = rig.agent = rig.new_agent()
        agent.tasks.restart_min_s = 0.2
        agent.tasks.stable_s = 0.5
        await agent.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            real_tick, calls = agent.tick, []

            def tick() -> None:
                calls.append(1)
                if len(calls) == 1:
                    raise asyncio.CancelledError  # what awaiting a cancelled future raises
                real_tick()

            agent.tick = tick  # type: ignore[method-assign]
            await eventually_async(
                lambda: ("agent", "timers") in _snapshot_faults(observer), 10, "fault at central"
            )
            await eventually_async(
                lambda: any(e.payload.ref == "timers" for e in observer.of_type("fault_cleared")),
                10,
                "the timers running again",
            )
            assert agent.tasks.records["timers"].restarts == 1 and agent.alive()
            # The restarted timers do their duty: a reservation that lapses is released.
            parcel = labels(1, start=9400)[0]
            command = rig.command(
                ReserveSlot(parcel=parcel, size=SizeClass.S, until=time.time() + 0.5)
            )
            await agent.handle_command_payload(rig.signed(command))
            await eventually_async(
                lambda: agent.store.read().expected(parcel) is None, 10, "the lapse"
            )
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        cleared = [e for e in observer.of_type("fault_cleared") if e.payload.ref == "timers"]
        assert [e.payload.component for e in cleared] == [FaultComponent.AGENT]
    finally:
        observer.close()


# ------------------------------------------------------------------ framing (kind 10)


def test_an_aim_id_and_cr_lf_split_at_every_byte_give_each_code_once_and_no_garbage() -> None:
    """A USB-serial adapter hands bytes over in whatever pieces it likes: an AIM id, a code,
    CR and LF split anywhere (between CR and LF too) give the code once, nothing unreadable,
    and the next code intact."""
    stream = b"]Q1LNP:abc.def\r\n]E0RR100093006CN\r\n"
    for cut in range(1, len(stream)):
        splitter = ScanLineSplitter()
        codes = splitter.feed(stream[:cut]) + splitter.feed(stream[cut:])
        assert [(c.symbology, c.text) for c in codes] == [
            ("]Q1", "LNP:abc.def"),
            ("]E0", "RR100093006CN"),
        ], cut
        assert splitter.stats.unreadable_run == 0 and splitter.stats.garbage == 0
    splitter = ScanLineSplitter()
    codes = [c for byte in stream for c in splitter.feed(bytes([byte]))]
    assert [c.text for c in codes] == ["LNP:abc.def", "RR100093006CN"]


def test_a_task_that_fails_at_every_start_backs_off_to_the_cap_and_is_reported_once() -> None:
    """A full disk makes a task fail the moment it starts, for hours: its restarts back off
    (the k-th wait drawn from [0.5 s, min(30, 0.5 * 2**k) s] on the agent's clock, the shared
    policy's full jitter: seconds apart, not a busy loop) and central sees one fault, not one
    per attempt; the watchdog is withheld meanwhile."""
    clock = ManualClock()
    faults: list[tuple[str, str | None]] = []
    starts: list[float] = []

    async def broken() -> None:
        starts.append(clock.monotonic())
        raise OSError("database or disk is full")

    async def scenario() -> bool:
        # Seeded jitter: the same draws each run, so the bounds below are checked exactly.
        tasks = Supervisor(
            clock, lambda name, detail: faults.append((name, detail)), rng=random.Random(11)
        )
        tasks.start("scan", broken)
        down_seen = False
        for _ in range(3000):  # 300 s of the agent's clock, 0.1 s at a time
            for _ in range(3):
                await asyncio.sleep(0)
            down_seen = down_seen or tasks.down() == ["scan"]
            clock.advance(0.1)
        await tasks.stop(1.0)
        return down_seen

    down_seen = asyncio.run(scenario())
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(starts)]
    # Each wait within its attempt's bounds, to the 0.1 s steps the test's clock moves by (and
    # one to run the restart).
    ceilings = [min(30.0, 0.5 * 2**k) for k in range(1, len(gaps) + 1)]
    bounded = [0.25 <= gap <= ceiling + 0.25 for gap, ceiling in zip(gaps, ceilings, strict=True)]
    assert all(bounded), gaps
    assert max(gaps) > 16.0, gaps  # the ceiling grew to the cap
    assert 10 <= len(starts) < 40  # 300 s: tens of attempts, not thousands
    assert faults == [("scan", "OSError: database or disk is full")]
    assert down_seen


# ---------------------------------------------------------------- one owner (kind 5)


def test_a_lock_file_left_by_a_crashed_agent_naming_a_live_pid_does_not_keep_the_site_down(
    tmp_path, broker, topics
):
    """The agent was killed -9; its lock file still names its pid, and the kernel has since
    given that pid to another process (here: pid 1). The lock is the kernel's flock, not
    the pid: the restarted agent takes the site, writes its own pid, and serves."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        lock = lock_path(rig.config.state_dir, rig.site_id)
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text("1\n")
        await rig.start()
        try:
            assert lock.read_text().strip() == str(os.getpid())
            parcel = labels(1, start=9500)[0]
            await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert list(report.placed) == [parcel]
            await eventually_async(
                lambda: len(observer.of_type("parcel_deposited")) == 1, 10, "the deposit"
            )
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        observer.close()


def _count_ticks(agent: SiteAgent) -> list[int]:
    """Counts the agent's timer ticks from now on (a sentinel: a tick has run since)."""
    real_tick, ticks = agent.tick, []

    def tick() -> None:
        real_tick()
        ticks.append(1)

    agent.tick = tick  # type: ignore[method-assign]
    return ticks


def test_a_pi_that_boots_with_its_clock_days_ahead_lapses_no_reservation(tmp_path, broker, topics):
    """The mirror of kind 3's input: the clock is four days ahead not while the agent runs
    but when it starts (an RTC set wrong, a bad NTP answer before the agent's unit starts).
    Start-up took a wall clock ahead of the saved evidence in, unbounded: every reservation
    lapsed at the first tick, and once NTP put the clock right the courier was refused. Now
    the clock is unsure and nothing lapses on it; when the clock is right the courier
    deposits."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = WrongClockRig(tmp_path, broker, topics, overrides={"timing.timer_interval_s": 0.05})
        agent = await rig.start()
        try:
            parcel = labels(1, start=9600)[0]
            slot = await rig.reserve(parcel)
            await agent.stop()
            rig.wall.step(4 * DAY_S)
            agent = rig.agent = rig.new_agent()
            await agent.start()
            ticks = _count_ticks(agent)
            await eventually_async(lambda: len(ticks) >= 3, 10, "the timers' ticks")
            assert agent.snapshot().clock_unsure
            assert agent.store.read().expected(parcel) is not None
            rig.wall.reset()  # NTP answers
            await eventually_async(lambda: not agent.snapshot().clock_unsure, 10, "clock sure")
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert list(report.placed) == [parcel]
            await eventually_async(lambda: _occupied(agent, parcel), what="the deposit")
            assert agent.store.read().slot_holding(parcel).id == slot
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        assert observer.of_type("scan_refused") == []
    finally:
        observer.close()


def test_after_a_long_downtime_what_lapsed_meanwhile_lapses_once_central_confirms_the_time(
    tmp_path, broker, topics
):
    """The other member: the wall clock is right and the site was really down for days (its
    saved evidence is three days old). Its clock is unsure at start and a reservation that
    ended meanwhile is kept, until central's first signed time agrees with the wall clock:
    then the clock is sure and the reservation lapses at the next tick."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides={"timing.timer_interval_s": 0.05})
        agent = await rig.start()
        try:
            parcel = labels(1, start=9650)[0]
            await agent.handle_command_payload(
                rig.signed(
                    rig.command(
                        ReserveSlot(parcel=parcel, size=SizeClass.S, until=time.time() + 0.5)
                    )
                )
            )
            assert agent.store.read().expected(parcel) is not None
            await agent.stop()
            # Three days down: the store's evidence is that old (the reservation ended since).
            with sqlite3.connect(rig.config.store_path) as db:
                db.execute(
                    "UPDATE meta SET value = ? WHERE key = ?",
                    (repr(time.time() - 3 * DAY_S), clock_guard.META_KEY),
                )
            db.close()
            agent = rig.agent = rig.new_agent()
            await agent.start()
            assert agent.snapshot().clock_unsure
            ticks = _count_ticks(agent)
            await eventually_async(lambda: len(ticks) >= 2, 10, "the timers' ticks")
            assert agent.store.read().expected(parcel) is not None
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            signed_time = rig.command(ResendState())  # central answers an unsure clock
            await agent.handle_command_payload(rig.signed(signed_time))
            await eventually_async(
                lambda: observer.reply_to(signed_time.id) is not None, 10, "the reply"
            )
            assert observer.reply_to(signed_time.id).ok
            assert not agent.snapshot().clock_unsure
            await eventually_async(
                lambda: agent.store.read().expected(parcel) is None, 10, "the lapse"
            )
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        observer.close()


def test_two_consumers_codes_re_read_in_turn_open_each_door_once_and_record_each_pickup_once(
    tmp_path, broker, topics
):
    """Two consumers at one presentation scanner: each one's phone is read again between the
    other's reads while both doors stand open, and again after they shut them. No door opens
    twice, no pickup is recorded twice, nothing counts toward a lockout."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            first, second = labels(2, start=9700)
            for parcel in (first, second):
                await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [first, second])
            assert sorted(report.placed) == sorted([first, second])
            await eventually_async(lambda: _occupied(agent, first) and _occupied(agent, second))
            codes = [rig.pickup_code(first), rig.pickup_code(second)]
            doors = []
            for code in codes:
                got = await Consumer(rig.sim, BRISK).pick_up(code, close_door=False)
                assert got.door is not None
                doors.append(rig.sim.compartment(*got.door))
            opened = [d.openings for d in doors]

            async def read_in_turn(times: int) -> None:
                for _ in range(times):
                    for code in codes:
                        handled = agent.scans_handled
                        rig.sim.scan(code, QR_SYMBOLOGY)
                        assert await agent.wait_scans_handled(handled, 5)

            await read_in_turn(3)  # both doors still open
            assert [d.openings for d in doors] == opened
            for door in doors:
                assert door.close_door()
            await eventually_async(
                lambda: len(observer.of_type("parcel_picked_up")) == 2, 10, "both pickups"
            )
            await read_in_turn(3)  # both doors shut, both codes used
            assert [d.openings for d in doors] == opened
            assert not agent.scan_lockout.locked_out(agent.clock.monotonic())
            # The sentinel: a scan handled after every re-read above, and its refusal seen.
            handled = agent.scans_handled
            rig.sim.scan(rig.pickup_code(first, expires_in=-60), QR_SYMBOLOGY)
            assert await agent.wait_scans_handled(handled, 5)
            await eventually_async(
                lambda: any(
                    e.payload.reason is ScanRefusal.EXPIRED
                    for e in observer.of_type("scan_refused")
                ),
                10,
                "the sentinel's refusal",
            )
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        assert len(observer.of_type("parcel_picked_up")) == 2
        assert observer.of_type("scanner_locked_out") == []
        assert len(observer.of_type("door_opened")) == 4  # two deposits, two pickups
    finally:
        observer.close()


def test_the_heartbeat_goes_on_while_the_store_is_full(tmp_path, broker, topics):
    """A full card refuses every write; the heartbeat only reads (epoch, last seq), so it
    goes on and central does not call a site offline that still serves (and says why)."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(
            tmp_path,
            broker,
            topics,
            overrides={"timing.heartbeat_interval_s": 0.1, "timing.timer_interval_s": 0.05},
        )
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            disk = DiskFull(agent)
            disk.fill()
            for _ in range(5):  # five beats in a row, each a new one, on the full disk
                seen = observer.retained.get("heartbeat")
                await eventually_async(
                    lambda seen=seen: observer.retained.get("heartbeat") not in (None, seen),
                    5,
                    "a heartbeat on the full disk",
                )
            beat = decode(Heartbeat, observer.retained["heartbeat"])
            assert beat.last_seq == agent.store.last_seq()
            assert agent.tasks.down() == []
            disk.free()
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        observer.close()


# ------------------------------------------------------------------ adapter echo (kind 7)


@pytest.mark.parametrize("setting", ["on", "auto"])
@pytest.mark.parametrize("noise", [0x00, 0xFF, 0x8A])
def test_a_noise_byte_before_the_echo_does_not_pass_a_stuck_0x8a_lock_for_released(
    setting: str, noise: int
) -> None:
    """Host sends 8A 01 03 11 99; the line carries a turn-round glitch, then the echo:
    00 8A 01 03 11 99 (hw_sim.field.echo_glitch, before every request's echo). The canceller
    took the glitch for 'the echo is not there', passed the whole echo on, and it read as
    the board's reply: a stuck lock reported released (issue 11 kind 7's input, back
    through one noise byte). Now noise before the echo is passed on (the frame reader
    drops it) and the echo is still expected; auto still finds the echo."""

    async def scenario() -> None:
        clock = SystemClock()
        site = SimulatedSite(
            clock,
            SimConfig(
                profile=BoardFamily.RS485_8A,
                board_options=Rs485Options(open_level=Feedback.HIGH, unlock_reply_delay_s=0.05),
            ),
        )
        locks, _scanner = site.serve_memory()
        site.set_fault(FaultKind.ADAPTER_ECHO, True)
        links: list[GlitchingLink] = []

        async def memory() -> ByteLink:
            return locks.open()

        glitching = with_turnround_glitch(memory, noise)

        async def opener() -> ByteLink:
            link = await glitching()
            assert isinstance(link, GlitchingLink)
            links.append(link)
            return link

        config = LockBusConfig(
            port="mem",
            family="rs485-8a",
            rs485_boards=[{"address": 1, "channels": 8, "open_level": "high"}],
            reply_timeout_s=0.3,
            echo=setting,
        )
        driver = LockBoardDriver(config, opener, clock)
        await driver.start()
        try:
            async with asyncio.timeout(10):
                await eventually_async(lambda: driver.bus.port_open, what="the port open")
                await driver.read_board(1)
                assert driver.bus.stats.echo is True
                site.set_fault(FaultKind.LOCK_STUCK, True, board=1, slot=3)
                with pytest.raises(LockDidNotRelease):
                    await driver.unlock(1, 3)
                assert site.compartment(1, 3).openings == 0
                site.set_fault(FaultKind.LOCK_STUCK, False, board=1, slot=3)
                await driver.unlock(1, 4)  # a good lock still releases, once
                assert site.compartment(1, 4).openings == 1
                written = [w for link in links for w in link.written]
                assert written.count(rs485.Unlock(1, 4).to_bytes()) == 1
        finally:
            await driver.stop()
            await site.aclose()

    asyncio.run(scenario())


def test_a_leap_ahead_is_taken_in_only_when_a_later_signed_time_agrees() -> None:
    """The guard's rule, alone: a burst of commands from a central stepped a day ahead, and
    the same one replayed a minute later, move nothing; a second signed time a minute later
    with the same offset does (also under a compressed day, whose seconds multiply jitter)."""
    true = ManualClock(start=1_800_000_000.0)
    guard = ClockGuard(true, witnessed=1_800_000_000.0)
    ahead = 1_800_000_000.0 + DAY_S
    for i in range(20):  # a burst, 0.5 s apart: the glitch lasted ten seconds
        assert guard.witness(ahead + 0.5 * i) == pytest.approx(true.now())
        true.advance(0.5)
    true.advance(60)
    assert guard.witness(ahead) == pytest.approx(true.now())  # replayed: no new evidence
    assert guard.proven() == pytest.approx(true.now())
    true.advance(60)
    assert guard.witness(ahead + 60) == pytest.approx(ahead + 60)  # agrees with the replay
    assert guard.proven() == pytest.approx(ahead + 60)

    day = ManualClock(start=1_800_000_000.0)  # x720: 10 s of real time is 7,200 s here
    stale = WrongClock(day)
    stale.step(-2 * DAY_S)  # wall clock and store both two days behind: sure, and wrong
    compressed = ClockGuard(stale, witnessed=stale.now())
    day.advance(1)
    first = day.now()
    compressed.witness(first)  # a stale-but-sure site: central's time is a leap
    assert compressed.proven() < first - DAY_S
    day.advance(7_200)
    compressed.witness(first + 7_200 - 300)  # 0.4 s of real delivery jitter, x720
    assert compressed.proven() == pytest.approx(first + 7_200 - 300)


def test_a_wall_clock_flipping_between_servers_ratchets_the_witnessed_time_no_further() -> None:
    """Two NTP servers that disagree (one 100 s ahead, one three days behind or ahead) and a
    client that flips between them all day: trusted time never falls below the true time (an
    expired code stays expired), and what lapses never runs more than one accepted step
    (2 min) ahead of it, however many flips."""
    true = ManualClock(start=1_800_000_000.0)
    wall = WrongClock(true)
    guard = ClockGuard(wall, witnessed=true.now())
    for flip in range(200):
        wall.reset()
        wall.step((100.0, -3 * DAY_S, 3 * DAY_S, 0.0)[flip % 4])
        true.advance(30)
        assert guard.now() >= true.now()
        assert guard.proven() - true.now() <= WALL_ACCEPT_S
