"""The site agent: the flows of couriers, consumers and technicians at one site.

Sans-thread and clock-driven: every agent is a set of asyncio tasks, so one process can run
one agent on a Pi or thousands in the fleet simulator with the same code. Decisions and the
events they produce are committed to the store before a door moves; a door's confirmed
sensor readings (door closed, IR occupancy) move the slot state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edge.config import SiteConfig, SlotConfig
from edge.drivers.links import Opener
from edge.drivers.lockboard import BoardReading, LockBoardDriver
from edge.drivers.scanner import ScannerReader
from edge.errors import HardwareError, IllegalTransition, LockDidNotRelease, NoReply
from edge.host import diagnostics
from edge.host.supervisor import Supervisor
from edge.site.clock_guard import PERSIST_EVERY_S, ClockGuard, save_witness, saved_witness
from edge.site.lockout import Admission, Decision, LockoutPolicy, ScanLockout
from edge.site.slots import OPEN_STATES, Trigger
from edge.store import crash_recovery
from edge.store.sqlite import SlotRecord, Store, StoreUnavailable, Transaction
from edge.uplink.heartbeat import beat_forever, make_heartbeat
from edge.uplink.mqtt import SiteLink
from protocols.clock import Clock
from protocols.commands import DOOR_COMMAND_FRESH_S, DOOR_MOVING, verify_command
from protocols.errors import (
    LabelError,
    MessageError,
    RefusalReason,
    TokenRefused,
    UnsupportedSchemaVersion,
)
from protocols.labels import parse_label
from protocols.messages import (
    BoardFault,
    BoardFaultCode,
    CancelReservation,
    Command,
    DoorClosed,
    DoorForced,
    DoorLeftOpen,
    DoorOpened,
    DoorOpenReason,
    DoorState,
    Fault,
    FaultCleared,
    FaultComponent,
    LockFault,
    MarkForRemoval,
    OpenSlot,
    ParcelDeposited,
    ParcelPickedUp,
    ParcelRemoved,
    RemoteOpenRefused,
    RemovalReason,
    Reply,
    ReplyReason,
    ResendState,
    ReserveSlot,
    RevokeCode,
    RunDiagnostics,
    ScanKind,
    ScannerFault,
    ScannerFaultCode,
    ScannerLockedOut,
    ScanRefusal,
    ScanRefused,
    SensorFault,
    SetSlotService,
    SignedCommand,
    SiteKind,
    SizeClass,
    SlotBackInService,
    SlotFaultCode,
    SlotOutOfService,
    SlotSnapshot,
    SlotState,
    StateSnapshot,
    decode,
    encode,
)
from protocols.scanner import ScannedCode
from protocols.tokens import TokenVerifier

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
SHELF = "SHELF"  # the slot id of a counter's shelves in events
_IDENT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # protocols.messages.Ident
SIZE_ORDER = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]
PRUNE_EVERY_S = 3600.0
SCREEN_LINES = 16


@dataclass(frozen=True)
class ScreenLine:
    """What the screen showed for one scan: the door it opened for the code, if any."""

    code: str
    slot: str | None
    refusal: str | None = None  # why nothing opened, when it is not the person's scan


# What the screen says when a scan's record could not be written (disk full, I/O error).
STORE_REFUSAL = "out of order: try again later"


# A door that shows closed this soon after its lock was released never really opened.
JAM_SUSPECT_S = 1.5
STOP_TIMEOUT_S = 5.0
BOARD_RECOVERY_READINGS = 3  # good readings in a row before a faulty board is trusted again

_REFUSAL_FOR_TOKEN = {
    RefusalReason.MALFORMED: ScanRefusal.MALFORMED,
    RefusalReason.BAD_SIGNATURE: ScanRefusal.BAD_SIGNATURE,
    RefusalReason.WRONG_KIND: ScanRefusal.WRONG_KIND,
    RefusalReason.WRONG_SITE: ScanRefusal.WRONG_SITE,
    RefusalReason.EXPIRED: ScanRefusal.EXPIRED,
    RefusalReason.NOT_YET_VALID: ScanRefusal.NOT_YET_VALID,
}
_REPLY_FOR_TOKEN = {
    RefusalReason.MALFORMED: ReplyReason.MALFORMED,
    RefusalReason.BAD_SIGNATURE: ReplyReason.BAD_SIGNATURE,
    RefusalReason.WRONG_KIND: ReplyReason.MALFORMED,
    RefusalReason.WRONG_SITE: ReplyReason.WRONG_SITE,
    RefusalReason.EXPIRED: ReplyReason.EXPIRED,
    RefusalReason.NOT_YET_VALID: ReplyReason.NOT_YET_VALID,
}


def _claimed_id(command_text: str) -> str:
    try:
        claimed = json.loads(command_text).get("id")
    except (ValueError, AttributeError, RecursionError):
        return "unknown"
    if isinstance(claimed, str) and _IDENT.fullmatch(claimed):
        return claimed
    return "unknown"


class Refused(Exception):
    """A scan that opens nothing (raised inside a transaction, so nothing it wrote stays)."""

    def __init__(
        self,
        kind: ScanKind,
        reason: ScanRefusal,
        detail: str | None = None,
        guessing: bool | None = None,  # None: edge.site.lockout decides by reason
    ) -> None:
        super().__init__(f"{kind.value}: {reason.value}")
        self.kind = kind
        self.reason = reason
        self.detail = detail
        self.guessing = guessing


class CommandRefused(Exception):
    def __init__(self, reason: ReplyReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class CourierSession:
    courier: str
    partner: str
    until: float  # monotonic


@dataclass
class OpenDoor:
    """A slot the agent unlocked, for the door's sensor to close."""

    unlocked_at: float  # monotonic, after the release was confirmed
    since: float  # monotonic, when the door was last seen open
    left_open_reported: bool = False
    seen_open: bool = False  # by a poll that began after the release


class SiteAgent:
    """One site: a locker bank (doors) or a staffed counter (shelves)."""

    def __init__(
        self,
        config: SiteConfig,
        *,
        clock: Clock,
        verifier: TokenVerifier,
        lock_opener: Opener | None = None,
        scanner_opener: Opener | None = None,
        durable: bool = True,
        boot_id: str | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.site = config.site_id
        self.verifier = verifier
        self.timing = config.timing
        self.boot_id = boot_id or uuid.uuid4().hex[:16]
        self.store = Store(config.store_path, self.site, durable=durable)
        # Every decision and record reads the guarded time (never below what the site has
        # witnessed); devices, which only wait, keep the raw clock.
        self.clock_guard = ClockGuard(clock, saved_witness(self.store))
        self.clock: Clock = self.clock_guard
        save_witness(self.store, self.clock_guard)
        self._clock_saved = clock.monotonic()
        self.store.ensure_slots([(s.id, s.size) for s in config.slots], self.clock.now())
        self.slots: dict[str, SlotConfig] = {s.id: s for s in config.slots}
        self.slot_at: dict[tuple[int, int], str] = {(s.board, s.lock): s.id for s in config.slots}
        self.driver: LockBoardDriver | None = None
        if config.lock_bus is not None and lock_opener is not None:
            self.driver = LockBoardDriver(config.lock_bus, lock_opener, clock)
        self.scanner: ScannerReader | None = None
        if config.scanner is not None and scanner_opener is not None:
            self.scanner = ScannerReader(
                scanner_opener, config.scanner.framing, clock, self._scanner_fault
            )
        self.link = SiteLink(
            site=self.site,
            boot_id=self.boot_id,
            broker=config.broker,
            store=self.store,
            clock=self.clock,
            snapshot=self.snapshot,
            on_command=self.handle_command_payload,
            inflight_limit=self.timing.outbox_inflight,
            republish_after_s=self.timing.republish_after_s,
            reconnect_min_s=self.timing.reconnect_min_s,
            reconnect_max_s=self.timing.reconnect_max_s,
            agent_version=AGENT_VERSION,
        )
        self.readings: dict[int, BoardReading] = {}
        self.boards_down: set[int] = set()
        self.good_readings: dict[int, int] = {}
        self.open_doors: dict[str, OpenDoor] = {}
        self.forced: set[str] = set()
        # Slots left in an open state by a crash on a board that did not answer at start-up:
        # settled by that board's first reading (edge/store/crash_recovery.py).
        self.unsettled: set[str] = set()
        self.slot_faults: dict[str, SlotFaultCode] = {}
        self.faults: dict[tuple[str, str, str], Fault] = {}
        self.courier: CourierSession | None = None
        self.scan_lockout = ScanLockout(
            LockoutPolicy(
                self.timing.scan_failures_before_lockout,
                self.timing.scan_failure_window_s,
                self.timing.lockout_s,
                self.timing.scan_reread_window_s,
            )
        )
        self.remote_opens: deque[float] = deque()
        self.maintenance_until = 0.0
        self.scan_latencies_ms: deque[float] = deque(maxlen=10_000)
        # What a locker's screen would show a person: that their scan was dealt with.
        self.scans_handled = 0
        self._scan_handled = asyncio.Event()  # set, and replaced, as each scan is dealt with
        # The screen: for each recent scan, the door it opened ("Door B07 is open").
        self.screen: deque[ScreenLine] = deque(maxlen=SCREEN_LINES)
        self._screen_slot: str | None = None
        self._on_event = on_event
        # Every long-running task, restarted with backoff when it dies (edge/host/supervisor.py).
        self.tasks = Supervisor(self.clock, self._task_fault)
        self._scan_lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self._last_prune = clock.monotonic()
        self._removals_swept = False  # the first tick clears what an older agent left

    # ======================================================================== lifecycle
    async def start(self) -> None:
        """Start drivers, reconcile with the boards, then serve (returns once ready)."""
        self._watch_clock()  # an unsure clock is in the first snapshot central sees
        if self.driver is not None:
            await self.driver.start(self._spawn)  # the bus's reader is supervised too
            await self.reconcile()
        self._spawn("link", self.link.run)
        if self.driver is not None:
            self._spawn("poll", self._poll_forever)
        if self.scanner is not None:
            self._spawn("scanner", self.scanner.run)
            self._spawn("scan", self._scan_forever)
        self._spawn("timers", self._timers)
        beat = self.timing.heartbeat_interval_s
        self._spawn(
            "heartbeat",
            lambda: beat_forever(
                self.link.publish_heartbeat,
                lambda: make_heartbeat(self.site, self.boot_id, self.store, self.clock, beat),
                self.clock,
                beat,
            ),
        )
        self.ready.set()

    async def run(self) -> None:
        await self.start()
        try:
            await self.tasks.wait()
        finally:
            await self.stop()

    async def stop(self, graceful: bool = True) -> None:
        for name in await self.tasks.stop(STOP_TIMEOUT_S):
            # never expected; a stop must not hang on one
            log.error("site %s: task %s ignored its cancellation", self.site, name)
        with contextlib.suppress(Exception):
            await self.link.stop(graceful)
        if self.driver is not None:
            await self.driver.stop()
        try:
            save_witness(self.store, self.clock_guard)
        finally:
            self.store.close()  # and the site's lock with it, even on a full disk

    def _spawn(self, name: str, start: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived task, restarted with backoff if it dies: pass the coroutine
        function (`self._timers`), not a coroutine, so it can be started again."""
        self.tasks.start(name, start)

    def alive(self) -> bool:
        """Every supervised task is running (what the systemd watchdog is fed on)."""
        return self.tasks.alive()

    def _task_fault(self, name: str, detail: str | None) -> None:
        code = "task_died"
        if detail is None:
            self._clear_fault(FaultComponent.AGENT, name, code)
        elif self._raise_fault(FaultComponent.AGENT, name, code, detail):
            self.link.publish_state()  # central sees it in the snapshot; no event to write

    def _store_fault(self) -> None:
        """Raise the store fault while writes fail; clear it once a write proves the store
        works again (the FaultCleared event is that write, tried at each tick)."""
        key = (FaultComponent.STORE.value, "store", "write_failed")
        failure = self.store.failure
        if failure is not None and key not in self.faults:
            self._raise_fault(FaultComponent.STORE, "store", "write_failed", failure)
            self.link.publish_state()  # an event cannot be written; the snapshot can be sent
        elif key in self.faults:
            with contextlib.suppress(StoreUnavailable):  # still failing: the fault stays
                self._emit(FaultCleared(component=FaultComponent.STORE, ref="store", code=key[2]))
                self.faults.pop(key)

    # ========================================================================== events
    def _emitted(self) -> None:
        self.link.kick()

    def _emit(self, payload: Any) -> None:
        """Emit one event in its own transaction (for events no decision goes with)."""
        with self.store.transaction() as tx:
            tx.emit(payload, self.clock.now())
        self._notify(payload)

    def _notify(self, payload: Any) -> None:
        self._emitted()
        if self._on_event is not None:
            self._on_event(payload.type)

    def _raise_fault(self, component: FaultComponent, ref: str, code: str, detail: str) -> bool:
        key = (component.value, ref, code)
        if key in self.faults:
            return False
        self.faults[key] = Fault(
            component=component, code=code, ref=ref, since=self.clock.now(), detail=detail
        )
        return True

    def _clear_fault(self, component: FaultComponent, ref: str, code: str) -> bool:
        if self.faults.pop((component.value, ref, code), None) is None:
            return False
        self._emit(FaultCleared(component=component, ref=ref, code=code))
        return True

    # ========================================================================== scanning
    async def _scan_forever(self) -> None:
        assert self.scanner is not None
        while True:
            code = await self.scanner.codes.get()
            started = time.perf_counter()
            self._screen_slot = None
            refusal = None
            try:
                await self.handle_scan(code)
            except HardwareError as exc:
                log.warning("site %s: scan could not be served: %s", self.site, exc)
            except StoreUnavailable as exc:
                # Its record could not be written, so no door moved: say why, and go on.
                log.error("site %s: scan refused, the store failed: %s", self.site, exc)
                self._screen_slot, refusal = None, STORE_REFUSAL
                self._store_fault()
            self.scan_latencies_ms.append((time.perf_counter() - started) * 1000)
            self.screen.append(ScreenLine(code.text, self._screen_slot, refusal))
            self.scans_handled += 1
            self._scan_handled.set()
            self._scan_handled = asyncio.Event()

    def door_opened_for(self, code: str) -> str | None:
        """The slot the screen says was opened for `code` (its latest scan), if any."""
        line = self.screen_answer(code)
        return line.slot if line is not None else None

    def screen_answer(self, code: str, after: int | None = None) -> ScreenLine | None:
        """The screen's line for the latest scan of `code`; with `after`, only among scans
        dealt with once `scans_handled` had passed that count (None: not answered yet)."""
        lines = list(self.screen)
        if after is not None:
            new = min(self.scans_handled - after, len(lines))
            lines = lines[len(lines) - new :] if new > 0 else []
        return next((line for line in reversed(lines) if line.code == code), None)

    async def wait_scans_handled(self, count: int, timeout_s: float) -> bool:
        """Wait, up to `timeout_s` real seconds, until more than `count` scans were dealt
        with: what a person watching the screen waits for. False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.scans_handled <= count:
                    await self._scan_handled.wait()
        except TimeoutError:
            return False
        return True

    async def handle_scan(self, code: ScannedCode) -> None:
        """One code from the scanner: a pickup code, a courier badge, or a parcel label."""
        async with self._scan_lock:
            text = code.text
            kind = (
                ScanKind.PICKUP_CODE
                if text.startswith("LNP:")
                else ScanKind.COURIER_BADGE
                if text.startswith("LNB:")
                else ScanKind.PARCEL_LABEL
            )
            decision = self.scan_lockout.admit(text, self.clock.monotonic())
            if decision.admission is Admission.REPEAT:
                self._screen_slot = decision.slot  # a re-read: the screen still says the same
                return
            self._screen_slot = None
            refused = None
            try:
                if decision.admission is Admission.LOCKED_OUT:
                    raise Refused(kind, ScanRefusal.LOCKED_OUT, "too many failed scans")
                if kind is ScanKind.PICKUP_CODE:
                    await self._pickup(text)
                elif kind is ScanKind.COURIER_BADGE:
                    self._badge(text)
                else:
                    await self._label(text)
            except Refused as refusal:
                refused = refusal.reason
                if not decision.retry or refusal.reason is not decision.retry_of:
                    self._refuse(refusal, decision)  # a re-read's same refusal: said once
            served = refused is None and (
                self._screen_slot is not None  # a door opened
                or kind is ScanKind.COURIER_BADGE
                or self.config.kind is SiteKind.COUNTER  # a handover needs no door
            )
            now = self.clock.monotonic()
            self.scan_lockout.handled(text, now, self._screen_slot, refused, served)

    def _refuse(self, refusal: Refused, decision: Decision) -> None:
        self._emit(ScanRefused(kind=refusal.kind, reason=refusal.reason, detail=refusal.detail))
        started = self.scan_lockout.refused(
            refusal.reason, self.clock.monotonic(), refusal.guessing, decision
        )
        if started is not None:
            # Someone is trying codes: stop listening for a while and tell the operator.
            self._emit(
                ScannerLockedOut(
                    failures=started.failures, until=self.clock.now() + started.lockout_s
                )
            )

    def _badge(self, text: str) -> None:
        try:
            badge = self.verifier.courier_badge(text, self.clock.now())
        except TokenRefused as exc:
            raise Refused(
                ScanKind.COURIER_BADGE, _REFUSAL_FOR_TOKEN[exc.reason], exc.detail
            ) from None
        self.courier = CourierSession(
            badge.courier, badge.partner, self.clock.monotonic() + self.timing.courier_session_s
        )

    def _courier(self) -> CourierSession:
        session = self.courier
        if session is None or self.clock.monotonic() > session.until:
            self.courier = None
            raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.NO_BADGE, "scan a courier badge first")
        session.until = self.clock.monotonic() + self.timing.courier_session_s
        return session

    # ----------------------------------------------------------------------------- pickup
    async def _pickup(self, text: str) -> None:
        now = self.clock.now()
        try:
            code = self.verifier.pickup_code(text, self.site, now)
        except TokenRefused as exc:
            raise Refused(
                ScanKind.PICKUP_CODE, _REFUSAL_FOR_TOKEN[exc.reason], exc.detail
            ) from None
        with self.store.transaction() as tx:
            if tx.code_revoked(code.code_id):
                raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.REVOKED)
            if tx.code_used(code.code_id):
                raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.ALREADY_USED)
            if self.config.kind is SiteKind.COUNTER:
                if not tx.on_shelf(code.parcel):
                    raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.PARCEL_NOT_HERE)
                # Handover at the counter: staff hand the parcel over on a valid scan.
                tx.unshelve(code.parcel)
                tx.use_code(code.code_id, code.parcel, now)
                tx.removed(code.parcel)  # collected before a courier took it back
                event = ParcelPickedUp(parcel=code.parcel, slot=SHELF, code_id=code.code_id)
                tx.emit(event, now)
                self._notify(event)
                return
            slot = tx.slot_holding(code.parcel)
            if slot is None:
                raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.PARCEL_NOT_HERE)
            retrying_lock = slot.state is SlotState.FAULT
            if slot.state is SlotState.FAULT and self.slot_faults.get(slot.id) in (
                SlotFaultCode.LOCK_WONT_RELEASE,
                None,
            ):
                # A lock that failed before may work now: the consumer's retry is the test.
                slot = tx.move(slot.id, Trigger.FAULT_CLEARED_OCCUPIED, now)
            if slot.state is not SlotState.OCCUPIED or self._board_of(slot.id) in self.boards_down:
                raise Refused(ScanKind.PICKUP_CODE, ScanRefusal.PARCEL_NOT_HERE, slot.state.value)
            tx.move(
                slot.id, Trigger.OPEN_FOR_PICKUP, now, opened_by="consumer", open_ref=code.code_id
            )
            opened = DoorOpened(slot=slot.id, reason=DoorOpenReason.PICKUP)
            tx.emit(opened, now)
        self._notify(opened)
        unlocked = await self._unlock(slot.id, Trigger.CLOSED_OCCUPIED)
        if unlocked:
            self._screen_slot = slot.id
        if unlocked and retrying_lock:
            self.slot_faults.pop(slot.id, None)
            self._clear_fault(FaultComponent.LOCK, slot.id, SlotFaultCode.LOCK_WONT_RELEASE.value)

    # ------------------------------------------------------------------ deposit, removal
    async def _label(self, text: str) -> None:
        session = self._courier()
        try:
            label = parse_label(text).id
        except LabelError as exc:
            raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.BAD_LABEL, str(exc)) from None
        now = self.clock.now()
        if self.config.kind is SiteKind.COUNTER:
            self._counter_label(label, session, now)
            return
        with self.store.transaction() as tx:
            holding = tx.slot_holding(label)
            reason = tx.removal_reason(label)
            if holding is not None and reason is not None:
                if holding.state is not SlotState.OCCUPIED:
                    raise Refused(
                        ScanKind.PARCEL_LABEL, ScanRefusal.PARCEL_NOT_HERE, holding.state.value
                    )
                tx.move(
                    holding.id,
                    Trigger.OPEN_FOR_REMOVAL,
                    now,
                    opened_by=session.courier,
                    open_ref=reason,
                )
                opened = DoorOpened(slot=holding.id, reason=DoorOpenReason.REMOVAL)
                tx.emit(opened, now)
                target, undo = holding.id, Trigger.CLOSED_OCCUPIED
            else:
                if holding is not None:
                    raise Refused(  # a label this site knows: a re-scan, not a guess
                        ScanKind.PARCEL_LABEL,
                        ScanRefusal.UNKNOWN_LABEL,
                        f"already in {holding.id}",
                        guessing=False,
                    )
                expected = tx.expected(label)
                if expected is None:
                    raise Refused(
                        ScanKind.PARCEL_LABEL, ScanRefusal.UNKNOWN_LABEL, "not expected here"
                    )
                slot = self._deposit_slot(tx, expected.slot, expected.size)
                if slot is None:
                    raise Refused(
                        ScanKind.PARCEL_LABEL, ScanRefusal.NO_FREE_SLOT, expected.size.value
                    )
                if expected.slot and expected.slot != slot.id:
                    self._release_reservation(tx, expected.slot, label, now)
                    tx.expect(label, expected.size, slot.id, expected.until)
                tx.move(
                    slot.id,
                    Trigger.OPEN_FOR_DEPOSIT,
                    now,
                    opened_by=session.courier,
                    open_ref=label,
                )
                opened = DoorOpened(slot=slot.id, reason=DoorOpenReason.DEPOSIT)
                tx.emit(opened, now)
                target, undo = slot.id, Trigger.CLOSED_EMPTY
        self._notify(opened)
        if await self._unlock(target, undo):
            self._screen_slot = target

    def _counter_label(self, label: str, session: CourierSession, now: float) -> None:
        with self.store.transaction() as tx:
            if tx.on_shelf(label):
                reason = tx.removal_reason(label)
                if reason is None:
                    raise Refused(
                        ScanKind.PARCEL_LABEL, ScanRefusal.UNKNOWN_LABEL, "already checked in"
                    )
                tx.unshelve(label)
                tx.removed(label)
                event: Any = ParcelRemoved(
                    parcel=label, slot=SHELF, courier=session.courier, reason=RemovalReason(reason)
                )
            else:
                expected = tx.expected(label)
                if expected is None:
                    raise Refused(
                        ScanKind.PARCEL_LABEL, ScanRefusal.UNKNOWN_LABEL, "not expected here"
                    )
                if tx.shelved() >= self.config.shelf_capacity:
                    raise Refused(ScanKind.PARCEL_LABEL, ScanRefusal.NO_FREE_SLOT, "shelves full")
                tx.shelve(label, session.courier, now)
                tx.forget_expected(label)
                event = ParcelDeposited(
                    parcel=label,
                    slot=SHELF,
                    courier=session.courier,
                    size=expected.size,
                    reserved=True,
                )
            tx.emit(event, now)
        self._notify(event)

    def _deposit_slot(
        self, tx: Transaction, reserved: str | None, size: SizeClass
    ) -> SlotRecord | None:
        """The reserved slot if it can take the parcel, else the best-fitting free one."""
        if reserved is not None and reserved in self.slots:
            slot = tx.slot(reserved)
            if slot.state is SlotState.RESERVED and self._usable(slot.id):
                return slot
        fits = SIZE_ORDER[SIZE_ORDER.index(size) :]
        candidates = [
            s
            for s in tx.slots()
            if s.state is SlotState.FREE and s.size in fits and self._usable(s.id)
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda s: (SIZE_ORDER.index(s.size), s.id))

    def _usable(self, slot_id: str) -> bool:
        reading = self.readings.get(self._board_of(slot_id))
        if self._board_of(slot_id) in self.boards_down:
            return False
        if reading is not None:
            lock = self.slots[slot_id].lock - 1
            if reading.door_open[lock] or reading.occupied[lock] is True:
                return False
        return True

    def _release_reservation(self, tx: Transaction, slot_id: str, parcel: str, now: float) -> None:
        slot = tx.slot(slot_id)
        if slot.state is SlotState.RESERVED and slot.reserved_for == parcel:
            tx.move(slot_id, Trigger.RELEASE_RESERVATION, now)
            tx.set_reserved_for(slot_id, None)

    def _board_of(self, slot_id: str) -> int:
        return self.slots[slot_id].board

    # ------------------------------------------------------------------------ the doors
    async def _unlock(self, slot_id: str, undo: Trigger) -> bool:
        """Release a slot's lock. On failure, put the slot back and report the fault."""
        assert self.driver is not None
        config = self.slots[slot_id]
        try:
            await self.driver.unlock(config.board, config.lock)
        except (NoReply, LockDidNotRelease) as exc:
            now = self.clock.now()
            with self.store.transaction() as tx:
                tx.move(slot_id, undo, now)
                fault = LockFault(
                    slot=slot_id, fault=SlotFaultCode.LOCK_WONT_RELEASE, detail=str(exc)
                )
                tx.emit(fault, now)
                if isinstance(exc, LockDidNotRelease):
                    tx.move(slot_id, Trigger.FAULT, now)
                    self.slot_faults[slot_id] = SlotFaultCode.LOCK_WONT_RELEASE
                    self._raise_fault(FaultComponent.LOCK, slot_id, fault.fault.value, str(exc))
            self._notify(fault)
            return False
        now_m = self.clock.monotonic()
        self.open_doors[slot_id] = OpenDoor(unlocked_at=now_m, since=now_m)
        # Evidence for a restart after a crash (edge/store/crash_recovery.py); the door is open.
        try:
            with self.store.transaction() as tx:
                tx.mark_released(slot_id, self.clock.now())
        except StoreUnavailable as exc:
            log.warning("site %s: release of %s not recorded: %s", self.site, slot_id, exc)
        return True

    # ========================================================================== sensing
    async def _poll_forever(self) -> None:
        assert self.driver is not None and self.config.lock_bus is not None
        while True:
            try:
                await self.poll_once()
            except StoreUnavailable as exc:
                # The change stays unrecorded and is seen again at the next poll (below).
                log.error("site %s: a reading could not be recorded: %s", self.site, exc)
                self._store_fault()
            await self.clock.sleep(self.config.lock_bus.poll_interval_s)

    async def poll_once(self) -> None:
        """Read every board once and act on what changed."""
        assert self.driver is not None
        for board in self.driver.boards:
            started = self.clock.monotonic()
            try:
                reading = await self.driver.read_board(board)
            except NoReply as exc:
                self._board_down(board, str(exc))
                continue
            if self._board_up(board):
                self.apply_reading(reading, started)
        self._check_doors_left_open()

    def _board_down(self, board: int, detail: str) -> None:
        self.good_readings[board] = 0
        if board in self.boards_down:
            return
        self.boards_down.add(board)
        self._raise_fault(FaultComponent.BOARD, str(board), BoardFaultCode.NO_REPLY.value, detail)
        self._emit(BoardFault(board=board, fault=BoardFaultCode.NO_REPLY, detail=detail))

    def _board_up(self, board: int) -> bool:
        """A good reading. True once the board is trusted again (its readings may move slots).

        A board that answered too late may still be answering old requests, and a status
        frame says nothing of which request it answers: only a run of good readings in a
        row brings it back, so a late reply cannot pass for the board's return.
        """
        self.good_readings[board] = self.good_readings.get(board, 0) + 1
        if board not in self.boards_down:
            return True
        if self.good_readings[board] < BOARD_RECOVERY_READINGS:
            return False
        self.boards_down.discard(board)
        self._clear_fault(FaultComponent.BOARD, str(board), BoardFaultCode.NO_REPLY.value)
        return True

    def apply_reading(self, reading: BoardReading, taken_at: float) -> None:
        """Move slots on one board's confirmed readings."""
        previous = self.readings.get(reading.board)
        self.readings[reading.board] = reading
        try:
            self._apply_changes(reading, previous, taken_at)
        except StoreUnavailable:
            # Not recorded: forget the reading, so the next poll sees the same change again.
            if previous is None:
                self.readings.pop(reading.board, None)
            else:
                self.readings[reading.board] = previous
            raise

    def _apply_changes(
        self, reading: BoardReading, previous: BoardReading | None, taken_at: float
    ) -> None:
        for index, door_open in enumerate(reading.door_open):
            slot_id = self.slot_at.get((reading.board, index + 1))
            if slot_id is None:
                continue
            occupied = reading.occupied[index]
            was_open = previous.door_open[index] if previous is not None else door_open
            # Most slots, most polls, show what they showed last time: nothing to decide.
            # Only a change, or a slot waiting on its door or its fault, needs the store.
            unchanged = (
                previous is not None
                and was_open == door_open
                and previous.occupied[index] == occupied
                and slot_id not in self.open_doors
                and slot_id not in self.slot_faults
            )
            if not unchanged:
                self._apply_slot(slot_id, door_open, was_open, occupied, taken_at)

    def _apply_slot(
        self, slot_id: str, door_open: bool, was_open: bool, occupied: bool | None, taken_at: float
    ) -> None:
        slot = self.store.read().slot(slot_id)
        if slot_id in self.unsettled and slot.state in OPEN_STATES:
            self._settle_interrupted(slot, door_open, occupied)
            return
        opened = self.open_doors.get(slot_id)
        now_m = self.clock.monotonic()
        if slot.state in OPEN_STATES:
            if door_open:
                if opened is not None and taken_at >= opened.unlocked_at:
                    opened.seen_open = True
                    if not was_open:
                        opened.since = now_m
                return
            # Only a reading taken after the release was confirmed may close the door (an
            # older one still shows the door as it was before it opened), and only once a
            # poll has seen it open, or the door never opened at all (jammed).
            if opened is None or taken_at < opened.unlocked_at:
                return
            if not opened.seen_open and now_m - opened.unlocked_at < JAM_SUSPECT_S:
                return
            self._door_closed(slot, occupied)
            return
        if door_open and not was_open and slot_id not in self.forced:
            self.forced.add(slot_id)
            self.open_doors[slot_id] = OpenDoor(unlocked_at=now_m, since=now_m)
            self._emit(DoorForced(slot=slot_id))
        elif not door_open and slot_id in self.forced:
            self.forced.discard(slot_id)
            self.open_doors.pop(slot_id, None)
            self._emit(DoorClosed(slot=slot_id, occupied=occupied))
        if not door_open and occupied is not None:
            self._check_contents(slot, occupied)

    def _door_closed(self, slot: SlotRecord, occupied: bool | None) -> None:
        now = self.clock.now()
        self.scan_lockout.door_closed(slot.id)
        opened = self.open_doors.get(slot.id)  # forgotten once the close is recorded
        events: list[Any] = []
        with self.store.transaction() as tx:
            if slot.state is SlotState.OPEN_FOR_DEPOSIT:
                parcel = slot.open_ref
                went_in = occupied if occupied is not None else True
                if went_in and parcel is not None:
                    reserved = slot.reserved_for == parcel
                    tx.move(slot.id, Trigger.CLOSED_OCCUPIED, now, parcel=parcel)
                    tx.set_reserved_for(slot.id, None)
                    expected = tx.expected(parcel)
                    tx.forget_expected(parcel)
                    events.append(DoorClosed(slot=slot.id, occupied=True))
                    events.append(
                        ParcelDeposited(
                            parcel=parcel,
                            slot=slot.id,
                            courier=slot.opened_by or "unknown",
                            size=expected.size if expected else slot.size,
                            reserved=reserved,
                        )
                    )
                else:
                    tx.move(slot.id, Trigger.CLOSED_EMPTY, now, parcel=None)
                    events.append(DoorClosed(slot=slot.id, occupied=False))
                    if slot.reserved_for is not None and tx.expected(slot.reserved_for):
                        tx.move(slot.id, Trigger.RESERVE, now)
            elif slot.state is SlotState.OPEN_FOR_PICKUP:
                taken = not occupied if occupied is not None else True
                if taken and slot.parcel is not None:
                    tx.move(slot.id, Trigger.CLOSED_EMPTY, now, parcel=None)
                    code_id = slot.open_ref or ""
                    tx.use_code(code_id, slot.parcel, now)
                    tx.removed(slot.parcel)  # collected before a courier took it back
                    events.append(DoorClosed(slot=slot.id, occupied=False))
                    events.append(ParcelPickedUp(parcel=slot.parcel, slot=slot.id, code_id=code_id))
                else:
                    tx.move(slot.id, Trigger.CLOSED_OCCUPIED, now)
                    events.append(DoorClosed(slot=slot.id, occupied=True))
                    events.extend(self._jam_suspected(slot.id, opened))
            elif slot.state is SlotState.OPEN_FOR_REMOVAL:
                taken = not occupied if occupied is not None else True
                if taken and slot.parcel is not None:
                    tx.move(slot.id, Trigger.CLOSED_EMPTY, now, parcel=None)
                    tx.removed(slot.parcel)
                    events.append(DoorClosed(slot=slot.id, occupied=False))
                    events.append(
                        ParcelRemoved(
                            parcel=slot.parcel,
                            slot=slot.id,
                            courier=slot.opened_by or "unknown",
                            reason=RemovalReason(slot.open_ref or RemovalReason.EXPIRED.value),
                        )
                    )
                else:
                    tx.move(slot.id, Trigger.CLOSED_OCCUPIED, now)
                    events.append(DoorClosed(slot=slot.id, occupied=True))
            for event in events:
                tx.emit(event, now)
        self.open_doors.pop(slot.id, None)
        for event in events:
            self._notify(event)

    def _jam_suspected(self, slot_id: str, opened: OpenDoor | None) -> list[Any]:
        """A door "closed" with the parcel inside almost as soon as it was released: on a
        CU16 board that is what a door jammed in its frame looks like (the latch let go and
        caught again; no person opens, changes their mind and shuts a door that fast).
        Report it, so a consumer who could not get in is not a mystery."""
        if opened is None or self.clock.monotonic() - opened.unlocked_at > JAM_SUSPECT_S:
            return []
        return [
            LockFault(
                slot=slot_id,
                fault=SlotFaultCode.LOCK_WONT_RELEASE,
                detail="released, but the door did not open (jammed?)",
            )
        ]

    def _check_contents(self, slot: SlotRecord, occupied: bool) -> None:
        """A closed door: does the IR sensor agree with what the store says is inside?"""
        now = self.clock.now()
        holds = slot.parcel is not None
        if (
            slot.state is SlotState.FAULT
            and self.slot_faults.get(slot.id) is SlotFaultCode.IR_MISMATCH
        ):
            if occupied == holds:
                trigger = Trigger.FAULT_CLEARED_OCCUPIED if holds else Trigger.FAULT_CLEARED_EMPTY
                with self.store.transaction() as tx:
                    tx.move(slot.id, trigger, now)
                self.slot_faults.pop(slot.id, None)
                self._clear_fault(FaultComponent.SENSOR, slot.id, SlotFaultCode.IR_MISMATCH.value)
            return
        if (
            slot.state in (SlotState.OCCUPIED, SlotState.FREE, SlotState.RESERVED)
            and occupied != holds
        ):
            detail = "parcel no longer seen" if holds else "something seen in an empty compartment"
            event = SensorFault(slot=slot.id, fault=SlotFaultCode.IR_MISMATCH, detail=detail)
            with self.store.transaction() as tx:
                if slot.state is SlotState.RESERVED:
                    tx.move(slot.id, Trigger.RELEASE_RESERVATION, now)
                    tx.move(slot.id, Trigger.FAULT, now)
                else:
                    tx.move(slot.id, Trigger.FAULT, now)
                tx.emit(event, now)
            self.slot_faults[slot.id] = SlotFaultCode.IR_MISMATCH
            self._raise_fault(
                FaultComponent.SENSOR, slot.id, SlotFaultCode.IR_MISMATCH.value, detail
            )
            self._notify(event)

    def _check_doors_left_open(self) -> None:
        now_m = self.clock.monotonic()
        for slot_id, door in list(self.open_doors.items()):
            reading = self.readings.get(self._board_of(slot_id))
            still_open = reading is not None and reading.door_open[self.slots[slot_id].lock - 1]
            if not still_open:
                continue
            open_for = now_m - door.since
            if open_for > self.timing.door_left_open_s and not door.left_open_reported:
                door.left_open_reported = True
                self._emit(DoorLeftOpen(slot=slot_id, open_seconds=round(open_for, 1)))

    # ================================================================== reconciliation
    async def reconcile(self) -> None:
        """At start-up: read every board and report what changed while the agent was down."""
        assert self.driver is not None
        now_m = self.clock.monotonic()
        for board in self.driver.boards:
            try:
                reading = await self.driver.read_board(board)
            except NoReply as exc:
                self._board_down(board, str(exc))
                self.unsettled.update(
                    s.id
                    for s in self.store.read().slots()
                    if s.id in self.slots
                    and self._board_of(s.id) == board
                    and s.state in OPEN_STATES
                )
                continue
            self.readings[board] = reading
            for index, door_open in enumerate(reading.door_open):
                slot_id = self.slot_at.get((board, index + 1))
                if slot_id is None:
                    continue
                slot = self.store.read().slot(slot_id)
                occupied = reading.occupied[index]
                if slot.state in OPEN_STATES:
                    # The agent stopped while this door was being opened, or was open.
                    self._settle_interrupted(slot, door_open, occupied)
                    continue
                if door_open:
                    self.forced.add(slot_id)
                    self.open_doors[slot_id] = OpenDoor(unlocked_at=now_m, since=now_m)
                    self._emit(DoorForced(slot=slot_id))
                elif occupied is not None:
                    self._check_contents(slot, occupied)

    def _settle_interrupted(self, slot: SlotRecord, door_open: bool, occupied: bool | None) -> None:
        """A slot left in an open state by a crash: the board's reading settles it (see
        edge/store/crash_recovery.py). Opened: finish the visit; never opened: undo, no jam."""
        self.unsettled.discard(slot.id)
        released = slot.released_at is not None
        outcome = crash_recovery.settle(slot.state, door_open, occupied, released)
        if outcome is crash_recovery.Outcome.STILL_OPEN:
            # Released before the crash: its closing later is no jam.
            now_m = self.clock.monotonic()
            self.open_doors[slot.id] = OpenDoor(
                unlocked_at=now_m - JAM_SUSPECT_S, since=now_m, seen_open=True
            )
            return
        if outcome is crash_recovery.Outcome.DID_NOT_HAPPEN:
            log.warning(
                "site %s: %s was %s when the agent stopped, and its door never opened: undone",
                self.site,
                slot.id,
                slot.state.value,
            )
            occupied = crash_recovery.HELD_BEFORE[slot.state]
        self._door_closed(slot, occupied)  # no OpenDoor entry: nothing to suspect of a jam

    # ========================================================================= commands
    async def handle_command_payload(self, payload: bytes) -> None:
        """A message on the commands topic: verify it, act, reply. Never raises."""
        now = self.clock.now()
        command_id = "unknown"
        try:
            try:
                signed = decode(SignedCommand, payload)
            except UnsupportedSchemaVersion as exc:
                raise CommandRefused(ReplyReason.UNSUPPORTED_VERSION, str(exc)) from None
            except MessageError as exc:
                raise CommandRefused(ReplyReason.MALFORMED, str(exc)) from None
            try:
                # Central's signed issue time is evidence of the time: witness it first.
                command = verify_command(
                    self.verifier, signed, self.site, now, witness=self.clock_guard.witness
                )
            except TokenRefused as exc:
                # Answer with the id the command claims, so central can match the refusal;
                # a refusal acts on nothing, so an unverified id is safe to echo.
                command_id = _claimed_id(signed.command)
                raise CommandRefused(_REPLY_FOR_TOKEN[exc.reason], exc.detail) from None
            except MessageError as exc:
                raise CommandRefused(ReplyReason.UNSUPPORTED_VERSION, str(exc)) from None
            command_id = command.id
            late = self.clock.now() - command.issued_at
            if command.body.type in DOOR_MOVING and late > DOOR_COMMAND_FRESH_S:
                raise CommandRefused(
                    ReplyReason.STALE,
                    f"{command.body.type} arrived {late:.0f} s after it was issued "
                    f"(a door command is obeyed within {DOOR_COMMAND_FRESH_S:.0f} s)",
                )
            with self.store.transaction() as tx:
                fresh = tx.remember_command(command.nonce, command.id, command.expires_at)
            if not fresh:
                raise CommandRefused(ReplyReason.REPLAYED, "this command was already received")
            result = await self._execute(command)
            self._reply(command_id, True, result=result)
        except CommandRefused as refusal:
            log.info("site %s: command %s refused: %s", self.site, command_id, refusal.detail)
            self._reply(command_id, False, refusal.reason, refusal.detail)
        except HardwareError as exc:
            self._reply(command_id, False, ReplyReason.HARDWARE_FAULT, str(exc))
        except StoreUnavailable as exc:  # nothing was recorded, so nothing moved
            self._store_fault()
            self._reply(command_id, False, ReplyReason.HARDWARE_FAULT, str(exc))

    def _reply(
        self,
        command_id: str,
        ok: bool,
        reason: ReplyReason | None = None,
        detail: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        reply = Reply(
            site=self.site,
            command_id=command_id,
            at=self.clock.now(),
            ok=ok,
            reason=reason,
            detail=detail[:500] if detail else None,
            result=result,
        )
        self.link.reply(encode(reply))

    async def _execute(self, command: Command) -> dict[str, Any] | None:
        body = command.body
        now = self.clock.now()
        if isinstance(body, ReserveSlot):
            return self._reserve(body, now, command.issued_at)
        if isinstance(body, CancelReservation):
            with self.store.transaction() as tx:
                expected = tx.expected(body.parcel)
                if expected is None:
                    raise CommandRefused(ReplyReason.UNKNOWN_PARCEL, body.parcel)
                if expected.slot:
                    self._release_reservation(tx, expected.slot, body.parcel, now)
                tx.forget_expected(body.parcel)
            return None
        if isinstance(body, OpenSlot):
            await self._remote_open(body, command.id)
            return None
        if isinstance(body, SetSlotService):
            self.set_service(body.slot, body.in_service, "central", body.reason)
            return None
        if isinstance(body, RevokeCode):
            with self.store.transaction() as tx:
                tx.revoke_code(body.code_id, body.parcel, now)
            return None
        if isinstance(body, RunDiagnostics):
            return await diagnostics.report(self)
        if isinstance(body, ResendState):
            requeued = self.store.requeue_from(body.from_seq) if body.from_seq else 0
            self.link.publish_state()
            self.link.kick()
            return {"requeued": requeued}
        if isinstance(body, MarkForRemoval):
            # A parcel already gone (collected offline, removed, never came) gets no entry
            # that nothing would ever clear; central learns which from the reply.
            with self.store.transaction() as tx:
                not_here = sorted({p for p in body.parcels if not tx.parcel_here(p)})
                for parcel in set(body.parcels) - set(not_here):
                    tx.mark_for_removal(parcel, body.reason.value, now)
            return {"marked": len(set(body.parcels)) - len(not_here), "not_here": not_here}
        raise CommandRefused(ReplyReason.MALFORMED, f"unknown command {body.type}")

    def _reserve(self, body: ReserveSlot, now: float, issued_at: float) -> dict[str, Any]:
        with self.store.transaction() as tx:
            # A reservation that arrives after its parcel (a resend the courier beat) would
            # hold a second slot, or an entry nothing clears, for a parcel already here/gone.
            held = tx.slot_holding(body.parcel)
            if held is not None or tx.on_shelf(body.parcel):
                return {"slot": held.id if held else SHELF, "deposited": True}
            collected = tx.picked_up_at(body.parcel)
            if collected is not None and issued_at <= collected:
                # Issued before the parcel was collected here: a resend that came late, not
                # a redelivery of the same label (which central issues after the pickup).
                raise CommandRefused(ReplyReason.UNKNOWN_PARCEL, "already picked up here")
            if self.config.kind is SiteKind.COUNTER:
                if tx.shelved() >= self.config.shelf_capacity:
                    raise CommandRefused(ReplyReason.NO_CAPACITY, "shelves full")
                tx.expect(body.parcel, body.size, None, body.until)
                return {"slot": SHELF}
            existing = tx.expected(body.parcel)
            if existing is not None and existing.slot is not None:
                return {"slot": existing.slot}  # a repeated reservation: same answer
            slot: SlotRecord | None = None
            if body.slot is not None:
                if body.slot not in self.slots:
                    raise CommandRefused(ReplyReason.UNKNOWN_SLOT, body.slot)
                candidate = tx.slot(body.slot)
                if candidate.state is SlotState.FREE and self._usable(candidate.id):
                    slot = candidate
            if slot is None:
                slot = self._deposit_slot(tx, None, body.size)
            if slot is None:
                raise CommandRefused(ReplyReason.NO_CAPACITY, f"no free {body.size.value} slot")
            tx.move(slot.id, Trigger.RESERVE, now)
            tx.set_reserved_for(slot.id, body.parcel)
            tx.expect(body.parcel, body.size, slot.id, body.until)
            return {"slot": slot.id}

    async def _remote_open(self, body: OpenSlot, command_id: str) -> None:
        if body.slot not in self.slots:
            raise CommandRefused(ReplyReason.UNKNOWN_SLOT, body.slot)
        now_m = self.clock.monotonic()
        while self.remote_opens and now_m - self.remote_opens[0] > self.timing.remote_open_window_s:
            self.remote_opens.popleft()
        in_maintenance = now_m < self.maintenance_until
        if not in_maintenance and len(self.remote_opens) >= self.timing.remote_open_limit:
            # The mass-open breaker: even central's valid signature cannot open many doors.
            self._emit(
                RemoteOpenRefused(
                    slot=body.slot, command_id=command_id, opens_in_window=len(self.remote_opens)
                )
            )
            raise CommandRefused(
                ReplyReason.RATE_LIMITED,
                f"{len(self.remote_opens)} remote opens in the last "
                f"{self.timing.remote_open_window_s:.0f} s; open a maintenance session on site",
            )
        self.remote_opens.append(now_m)
        now = self.clock.now()
        with self.store.transaction() as tx:
            slot = tx.slot(body.slot)
            if slot.state is SlotState.OCCUPIED:
                tx.move(
                    slot.id, Trigger.OPEN_FOR_REMOVAL, now, opened_by="remote", open_ref="remote"
                )
                undo = Trigger.CLOSED_OCCUPIED
            elif slot.state in (SlotState.FREE, SlotState.RESERVED):
                tx.move(
                    slot.id,
                    Trigger.OPEN_FOR_DEPOSIT,
                    now,
                    opened_by="remote",
                    open_ref=slot.reserved_for,
                )
                undo = Trigger.CLOSED_EMPTY
            else:
                raise CommandRefused(ReplyReason.SLOT_UNAVAILABLE, slot.state.value)
            reason = DoorOpenReason.MAINTENANCE if in_maintenance else DoorOpenReason.REMOTE
            opened = DoorOpened(slot=slot.id, reason=reason)
            tx.emit(opened, now)
        self._notify(opened)
        if not await self._unlock(body.slot, undo):
            raise CommandRefused(ReplyReason.HARDWARE_FAULT, "the lock did not release")

    # ======================================================================= technician
    def set_service(self, slot_id: str, in_service: bool, by: str, reason: str = "") -> None:
        if slot_id not in self.slots:
            raise CommandRefused(ReplyReason.UNKNOWN_SLOT, slot_id)
        now = self.clock.now()
        with self.store.transaction() as tx:
            slot = tx.slot(slot_id)
            event: Any
            if in_service:
                if slot.state is not SlotState.OUT_OF_SERVICE:
                    return
                trigger = (
                    Trigger.BACK_IN_SERVICE_OCCUPIED
                    if slot.parcel
                    else Trigger.BACK_IN_SERVICE_EMPTY
                )
                tx.move(slot_id, trigger, now)
                event = SlotBackInService(slot=slot_id, by=by)
                self.slot_faults.pop(slot_id, None)
                for key in [k for k in self.faults if k[1] == slot_id]:
                    del self.faults[key]
            else:
                if slot.state is SlotState.OUT_OF_SERVICE:
                    return
                if slot.state is SlotState.RESERVED:
                    tx.move(slot_id, Trigger.RELEASE_RESERVATION, now)
                try:
                    tx.move(slot_id, Trigger.TAKE_OUT_OF_SERVICE, now)
                except IllegalTransition as exc:
                    raise CommandRefused(ReplyReason.SLOT_UNAVAILABLE, str(exc)) from None
                event = SlotOutOfService(slot=slot_id, reason=reason or "technician", by=by)
            tx.emit(event, now)
        self._notify(event)

    def open_maintenance(self, seconds: float | None = None) -> float:
        """A technician on site opens a maintenance session: the breaker stands aside."""
        self.maintenance_until = self.clock.monotonic() + (seconds or self.timing.maintenance_s)
        return self.maintenance_until

    # ============================================================================ timers
    async def _timers(self) -> None:
        while True:
            await self.clock.sleep(self.timing.timer_interval_s)
            try:
                self.tick()
            except StoreUnavailable as exc:  # the duties are tried again at the next tick
                log.error("site %s: timers could not write: %s", self.site, exc)
            self._store_fault()

    def tick(self) -> None:
        """Time-driven duties: lapsed reservations, doors left open, pruning."""
        now = self.clock.now()
        # What lapses (reservations, remembered nonces, sent rows) goes by the time the site
        # can prove: a wall clock stepped days ahead must not lapse what central still keeps.
        proven = self.clock_guard.proven()
        lapsed = self.store.read().lapsed(proven)
        if lapsed:
            with self.store.transaction() as tx:
                for expected in lapsed:
                    if expected.slot:
                        self._release_reservation(tx, expected.slot, expected.parcel, now)
                    tx.forget_expected(expected.parcel)
        self._check_doors_left_open()
        pruning = self.clock.monotonic() - self._last_prune > PRUNE_EVERY_S
        if pruning:
            self._last_prune = self.clock.monotonic()
            self.store.prune(proven - self.timing.sent_retention_s)
        if lapsed or pruning or not self._removals_swept:
            self._forget_removals_not_here()
        self._watch_clock()

    def _forget_removals_not_here(self) -> None:
        """Removal entries of parcels no longer here (collected while the order to remove
        was on its way, lapsed before they came, or left by an older agent) go."""
        self._removals_swept = True
        with self.store.transaction() as tx:
            stale = tx.forget_removals_not_here()
        if stale:
            log.info("site %s: %s stale removal(s) cleared", self.site, len(stale))

    def _watch_clock(self) -> None:
        """Save the witnessed time now and then; say so while the wall clock is unsure."""
        guard, code = self.clock_guard, "unsure"
        if self.clock.monotonic() - self._clock_saved > PERSIST_EVERY_S:
            self._clock_saved = self.clock.monotonic()
            save_witness(self.store, guard)
        if guard.unsure:
            detail = f"wall clock {guard.offset():+.0f} s from the latest witnessed time"
            if self._raise_fault(FaultComponent.CLOCK, "clock", code, detail):
                log.warning("site %s: %s", self.site, detail)
                self.link.publish_state()
        elif self._clear_fault(FaultComponent.CLOCK, "clock", code):
            self.link.publish_state()

    def _scanner_fault(self, code: ScannerFaultCode, faulty: bool, detail: str) -> None:
        try:
            if faulty:
                if self._raise_fault(FaultComponent.SCANNER, "scanner", code.value, detail):
                    self._emit(ScannerFault(fault=code, detail=detail[:500]))
            else:
                self._clear_fault(FaultComponent.SCANNER, "scanner", code.value)
        except StoreUnavailable:
            # The reader goes on; the fault stands in the snapshot, and the store's says why.
            self._store_fault()

    # ========================================================================= snapshot
    def snapshot(self) -> StateSnapshot:
        slots = []
        for record in self.store.read().slots():
            if record.id not in self.slots:
                continue
            config = self.slots[record.id]
            reading = self.readings.get(config.board)
            door, locked, occupied = DoorState.UNKNOWN, None, None
            if reading is not None and config.lock <= len(reading.door_open):
                is_open = reading.door_open[config.lock - 1]
                door = DoorState.OPEN if is_open else DoorState.CLOSED
                locked = not is_open
                occupied = reading.occupied[config.lock - 1]
            slots.append(
                SlotSnapshot(
                    slot=record.id,
                    size=record.size,
                    state=record.state,
                    door=door,
                    locked=locked,
                    occupied=occupied,
                    parcel=record.parcel,
                    reserved_for=record.reserved_for,
                )
            )
        shelf = self.store.read().shelved() if self.config.kind is SiteKind.COUNTER else None
        return StateSnapshot(
            site=self.site,
            kind=self.config.kind,
            boot_id=self.boot_id,
            at=self.clock.now(),
            last_seq=self.store.last_seq(),
            epoch=self.store.epoch,
            slots=slots,
            shelf_capacity=self.config.shelf_capacity
            if self.config.kind is SiteKind.COUNTER
            else None,
            shelf_used=shelf,
            faults=list(self.faults.values()),
            versions={"agent": AGENT_VERSION, "protocol": "1"},
            clock_unsure=self.clock_guard.unsure,
        )
