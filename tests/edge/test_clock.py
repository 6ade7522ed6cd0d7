"""Time is evidence, not truth (issue 11, kinds 3 and 4): a site whose wall clock reads 1970 or
is stepped days ahead keeps expiry, revocation, reservations and single use; a door command
that arrives long after central issued it opens nothing, and central hears why."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from central.parcels.tasks import TaskKind, TaskRunner
from central.sites.alarms import AlarmKind
from central.sites.commands import ANSWER_WAIT_S, CommandSender, queue_command, record_reply
from central.store import CommandRecord, SqliteStore
from edge.agent import SiteAgent
from edge.drivers.links import serial_opener
from edge.site.clock_guard import WALL_ACCEPT_S
from hw_sim.field.wall_clock import WrongClock
from hw_sim.people.people import Courier
from protocols.clock import SystemClock
from protocols.commands import DOOR_COMMAND_FRESH_S
from protocols.messages import (
    Command,
    FaultComponent,
    OpenSlot,
    Reply,
    ReplyReason,
    ReserveSlot,
    RevokeCode,
    ScanRefusal,
    SizeClass,
    SlotState,
)
from protocols.tokens import TokenSigner
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

CLOCK_FAULT = (FaultComponent.CLOCK.value, "clock", "unsure")
FOUR_DAYS_S = 4 * 86_400


@dataclass
class WrongClockRig(SiteRig):
    """A site whose agent reads a wall clock the test can set wrong; central, the people and
    the devices keep the true time."""

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


def _openings(rig: SiteRig) -> dict[tuple[int, int], int]:
    return {(c.board, c.slot): c.openings for c in rig.sim.compartments()}


def _occupied(agent: SiteAgent, parcel: str) -> bool:
    slot = agent.store.read().slot_holding(parcel)
    return slot is not None and slot.state is SlotState.OCCUPIED


def test_a_site_rebooted_at_1970_keeps_expiry_and_revocation_and_obeys_central(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    central = SqliteStore(tmp_path / "central.sqlite")
    published: list[str] = []

    def publish(topic: str, payload: bytes, expiry_s: int, _broker: str | None = None) -> None:
        # The first send of the revocation is lost (the site's link was down): central must
        # send it again until the site answers.
        published.append(topic)
        if len(published) > 1:
            observer.client.publish(topic, payload, qos=1)

    signer = TokenSigner.generate()
    sender = CommandSender(central, signer, topics, SystemClock(), publish, 3600)
    runner = TaskRunner(central, "test", 30.0, {TaskKind.SEND_COMMAND.value: sender.run_tasks})

    async def scenario() -> None:
        rig = WrongClockRig(tmp_path, broker, topics, signer=signer)
        agent = await rig.start()
        try:
            expired, revoked, later = labels(3)
            for parcel in (expired, revoked):
                await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [expired, revoked])
            assert set(report.placed) == {expired, revoked}
            await eventually_async(lambda: _occupied(agent, expired) and _occupied(agent, revoked))
            revoked_code = rig.pickup_code(revoked)
            code_id = rig.signer.verifier().pickup_code(revoked_code, "L0001", time.time()).code_id

            # The Pi reboots with no real-time clock and no NTP: its clock reads 1970.
            await agent.stop()
            rig.wall.boot_at_1970()
            agent = rig.agent = rig.new_agent()
            await agent.start()
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            assert agent.snapshot().clock_unsure and CLOCK_FAULT in agent.faults
            before = _openings(rig)

            # A code that expired an hour ago opens nothing.
            await scan_opens_nothing(agent, rig.sim, rig.pickup_code(expired, expires_in=-3600))

            # The operator revokes a code: central sends it until the site has accepted it.
            with central.transaction() as session:
                queue_command(
                    session,
                    "L0001",
                    RevokeCode(parcel=revoked, code_id=code_id),
                    time.time(),
                    expires_at=time.time() + 3600,
                )
            now = time.time()
            runner.run_due(now)  # lost on the way
            runner.run_due(now + ANSWER_WAIT_S + 1)  # no answer: sent again
            assert len(published) == 2
            await eventually_async(lambda: len(observer.replies) == 1, 10, "the site's answer")
            reply = observer.replies[0]
            assert reply.ok, reply
            with central.transaction() as session:
                record_reply(session, reply, time.time(), "site L0001 reply")
            runner.run_due(now + 10 * ANSWER_WAIT_S)  # answered: not sent again
            assert len(published) == 2
            with central.transaction() as session:
                assert session.open_tasks(TaskKind.SEND_COMMAND.value) == []
            await scan_opens_nothing(agent, rig.sim, revoked_code)

            # Central's reservation and a valid badge still work at 1970.
            slot = await rig.reserve(later)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [later])
            assert list(report.placed) == [later]
            opened = [k for k, v in _openings(rig).items() if v != before[k]]
            assert opened == [(0, {s.id: s.lock for s in rig.config.slots}[slot])]
            await eventually_async(
                lambda: len(observer.of_type("parcel_deposited")) == 3, 10, "the last deposit"
            )
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        # The deposit at the end is the sentinel: every refusal before it has been seen.
        refusals = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert refusals == [ScanRefusal.EXPIRED, ScanRefusal.REVOKED]
        # Nothing the site wrote after the reboot is dated 1970.
        assert min(e.at for e in observer.events) > time.time() - 3600
    finally:
        observer.close()
        central.close()


def test_a_clock_four_days_ahead_for_seconds_lapses_no_reservation_and_forgets_no_command(
    tmp_path, broker, topics, monkeypatch
):
    # Prune on every tick, keeping sent rows and nonces a minute: a step ahead would drop a
    # nonce still in date if pruning read the wall clock.
    monkeypatch.setattr("edge.site.timers.PRUNE_EVERY_S", 0.0)
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = WrongClockRig(
            tmp_path,
            broker,
            topics,
            overrides={"timing.timer_interval_s": 0.05, "timing.sent_retention_s": 60},
        )
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            parcel, other = labels(2)
            slot = await rig.reserve(parcel)  # held for an hour
            second = rig.command(
                ReserveSlot(parcel=other, size=SizeClass.S, until=time.time() + 3600), ttl=86_400
            )
            await agent.handle_command_payload(rig.signed(second))

            def answers() -> list[Reply]:
                return [r for r in list(observer.replies) if r.command_id == second.id]

            rig.wall.step(FOUR_DAYS_S)
            # The site says its clock is unsure: a tick has run with the clock ahead.
            await eventually_async(lambda: CLOCK_FAULT in agent.faults, 10, "the clock fault")
            await eventually_async(lambda: agent.snapshot().clock_unsure, 10, "the flag")
            assert agent.store.read().slot(slot).state is SlotState.RESERVED
            assert agent.store.read().expected(parcel) is not None
            rig.wall.reset()
            await eventually_async(lambda: CLOCK_FAULT not in agent.faults, 10, "clock sure")

            # The courier is not refused, and the day-old command still cannot be replayed.
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert list(report.placed) == [parcel]
            await eventually_async(lambda: len(answers()) == 1, 10, "the first answer")
            observer.send(rig.signed(second))
            await eventually_async(lambda: len(answers()) == 2, 10, "the replay's answer")
            assert answers()[0].ok and answers()[1].reason is ReplyReason.REPLAYED
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        assert observer.of_type("scan_refused") == []
    finally:
        observer.close()


def test_a_late_door_command_is_refused_as_stale_and_alarms_central_a_fresh_one_opens(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    central = SqliteStore(tmp_path / "central.sqlite")
    signer = TokenSigner.generate()

    def publish(topic: str, payload: bytes, expiry_s: int, _broker: str | None = None) -> None:
        expiries.append(expiry_s)
        observer.client.publish(topic, payload, qos=1)

    expiries: list[int] = []
    sender = CommandSender(central, signer, topics, SystemClock(), publish, 3600)

    async def scenario() -> None:
        rig = WrongClockRig(tmp_path, broker, topics, signer=signer)
        await rig.start()
        try:
            await eventually_async(lambda: rig.agent.link.connected, 10, "the site online")
            before = _openings(rig)
            # Issued half an hour ago with the old one-hour expiry, held by an outage.
            now = time.time()
            late = Command(
                id="late-open",
                site="L0001",
                issued_at=now - 1800,
                expires_at=now + 1800,
                nonce="00" * 8,
                body=OpenSlot(slot="A01", reason="support call"),
            )
            with central.transaction() as session:
                session.add_command(
                    CommandRecord(late.id, late.site, "open_slot", now - 1800, now + 1800, "{}")
                )
            observer.send(rig.signed(late))
            # Central's own door command: fresh, and never given a longer expiry than that.
            fresh = sender.send("L0001", OpenSlot(slot="A02", reason="support call"))
            assert fresh.expires_at - fresh.issued_at <= DOOR_COMMAND_FRESH_S
            assert expiries == [int(DOOR_COMMAND_FRESH_S)]
            await eventually_async(
                lambda: observer.reply_to(fresh.id) and observer.reply_to(late.id), 10, "replies"
            )
            opened = [k for k, v in _openings(rig).items() if v != before[k]]
            assert opened == [(0, 2)]
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        stale = observer.reply_to("late-open")
        assert stale is not None and not stale.ok and stale.reason is ReplyReason.STALE
        ok = [r for r in observer.replies if r.command_id != "late-open"]
        assert len(ok) == 1 and ok[0].ok
        with central.transaction() as session:
            for reply in observer.replies:
                record_reply(session, reply, time.time(), "site L0001 reply")
            alarms = [(a.site, a.kind, a.ref) for a in session.list_alarms()]
        assert alarms == [("L0001", AlarmKind.COMMAND_REFUSED.value, "stale")]
    finally:
        observer.close()
        central.close()


def test_the_guard_never_goes_below_its_evidence_and_takes_in_only_small_steps() -> None:
    from edge.site.clock_guard import ClockGuard
    from protocols.clock import ManualClock

    true = ManualClock(start=1_800_000_000.0)
    wall = WrongClock(true)
    guard = ClockGuard(wall, witnessed=1_800_000_000.0)
    wall.boot_at_1970()
    true.advance(10)
    assert guard.now() == pytest.approx(1_800_000_010.0) and guard.unsure
    assert guard.witness(1_800_000_500.0) == pytest.approx(1_800_000_500.0)
    wall.reset()
    wall.step(WALL_ACCEPT_S + 500)  # far ahead of the evidence: not taken in
    assert guard.proven() == pytest.approx(1_800_000_500.0) and guard.unsure
    wall.reset()
    wall.step(500 - 10 + 30)  # 30 s ahead of the evidence: NTP's kind of step, taken in
    guard.now()
    assert guard.proven() == pytest.approx(1_800_000_530.0) and not guard.unsure
