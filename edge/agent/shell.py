"""The site agent: the thin shell around the site's decisions (edge/site/).

Sans-thread and clock-driven: every agent is a set of asyncio tasks, so one process can run
one agent on a Pi or thousands in the fleet simulator with the same code. The shell owns the
tasks and the parts (store, lock-bus driver, scanner, uplink); inputs (a scan, a reading, a
command, a tick) go to the pure decisions with the site's state, and the actions they return
are carried out: the store's changes committed in one transaction before a door moves
(edge/agent/runner.py), then the state changed, the events announced, the lock released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from edge.agent.commands import CommandDesk
from edge.agent.doors import LockBus
from edge.agent.duties import Duties
from edge.agent.runner import ActionRunner, Core
from edge.agent.scanning import ScanDesk
from edge.agent.screen import ScreenLine
from edge.agent.snapshot import AGENT_VERSION, snapshot
from edge.config import SiteConfig, SlotConfig
from edge.drivers.links import Opener
from edge.drivers.lockboard import BoardReading, LockBoardDriver
from edge.drivers.scanner import ScannerReader
from edge.host import diagnostics
from edge.host.supervisor import Supervisor
from edge.site import technician
from edge.site.actions import BoardStatus, Unlock
from edge.site.clock_guard import ClockGuard, save_witness, saved_witness
from edge.site.lockout import LockoutPolicy, ScanLockout
from edge.site.state import (
    CourierSession,
    OpenDoor,
    SiteRules,
    SiteState,
    SlotPlace,
)
from edge.store.sqlite import Store
from edge.uplink.heartbeat import beat_forever, make_heartbeat
from edge.uplink.mqtt import SiteLink
from protocols.clock import Clock
from protocols.messages import (
    EventPayload,
    Fault,
    SlotFaultCode,
    StateSnapshot,
)
from protocols.scanner import ScannedCode
from protocols.tokens import TokenVerifier

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


def site_rules(config: SiteConfig) -> SiteRules:
    """The site's fixed facts and limits, for its decisions, from its configuration."""
    timing = config.timing
    return SiteRules(
        site=config.site_id,
        kind=config.kind,
        slots={s.id: SlotPlace(s.id, s.board, s.lock, s.size) for s in config.slots},
        shelf_capacity=config.shelf_capacity,
        courier_session_s=timing.courier_session_s,
        door_left_open_s=timing.door_left_open_s,
        remote_open_limit=timing.remote_open_limit,
        remote_open_window_s=timing.remote_open_window_s,
        maintenance_s=timing.maintenance_s,
        sent_retention_s=timing.sent_retention_s,
    )


class SiteAgent:
    """One site: a locker bank (doors) or a staffed counter (shelves).

    The parts may be handed in (`store`, `driver`); otherwise they are made from `config`
    and the openers, as on a Pi."""

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
        store: Store | None = None,
        driver: LockBoardDriver | None = None,
    ) -> None:
        self.config = config
        self.site = config.site_id
        self.verifier = verifier
        self.timing = config.timing
        self.boot_id = boot_id or uuid.uuid4().hex[:16]
        self.store = store or Store(config.store_path, self.site, durable=durable)
        # Every decision and record reads the guarded time (never below what the site has
        # witnessed); devices, which only wait, keep the raw clock.
        self.clock_guard = ClockGuard(clock, saved_witness(self.store))
        self.clock: Clock = self.clock_guard
        save_witness(self.store, self.clock_guard)
        self.store.ensure_slots([(s.id, s.size) for s in config.slots], self.clock.now())
        self.slots: dict[str, SlotConfig] = {s.id: s for s in config.slots}
        self.slot_at: dict[tuple[int, int], str] = {(s.board, s.lock): s.id for s in config.slots}
        self.rules = site_rules(config)
        timing = self.timing
        self.state = SiteState(
            ScanLockout(
                LockoutPolicy(
                    timing.scan_failures_before_lockout,
                    timing.scan_failure_window_s,
                    timing.lockout_s,
                    timing.scan_reread_window_s,
                )
            )
        )
        self._on_event = on_event
        self.runner = ActionRunner(
            self.rules, self.store, self.state, self._announce, self._publish_state
        )
        self.duties = Duties(self.runner, self.clock_guard, timing.sent_retention_s)
        self.driver = driver
        if driver is None and config.lock_bus is not None and lock_opener is not None:
            self.driver = LockBoardDriver(config.lock_bus, lock_opener, clock)
        core = Core(self.rules, self.state, self.runner, self.clock_guard, self.duties.store_fault)
        self.scanner: ScannerReader | None = None
        if config.scanner is not None and scanner_opener is not None:
            self.scanner = ScannerReader(
                scanner_opener, config.scanner.framing, clock, self.duties.scanner_fault
            )
        self.bus = LockBus(core, self.driver, self.scanner) if self.driver is not None else None
        self.desk = ScanDesk(core, verifier, self._unlock)
        self.commands = CommandDesk(core, verifier, self._unlock, self._reply)
        self.commands.resend_state = self._resend_state
        self.link = SiteLink(
            site=self.site,
            boot_id=self.boot_id,
            broker=config.broker,
            store=self.store,
            clock=self.clock,
            snapshot=self.snapshot,
            on_command=self.handle_command_payload,
            inflight_limit=timing.outbox_inflight,
            republish_after_s=timing.republish_after_s,
            reconnect_min_s=timing.reconnect_min_s,
            reconnect_max_s=timing.reconnect_max_s,
            agent_version=AGENT_VERSION,
        )
        # Every long-running task, restarted with backoff when it dies (edge/host/supervisor.py).
        self.tasks = Supervisor(self.clock, self.duties.task_fault)
        # The report asks each part for its health; the parts are read when it is asked for.
        self.commands.diagnostics = lambda: diagnostics.report(
            diagnostics.SiteParts(
                site=self.site,
                kind=config.kind,
                clock=self.clock,
                store=self.store,
                link=self.link,
                tasks=self.tasks,
                scan_lockout=self.scan_lockout,
                faults=self.faults.values(),
                slot_at=self.slot_at,
                driver=self.driver,
                scanner=self.scanner,
            )
        )
        self.ready = asyncio.Event()
        # Told whether each unlock the agent tried worked (the host's metrics count them).
        self.on_unlock: Callable[[bool], None] | None = None

    # ======================================================================== lifecycle
    async def start(self) -> None:
        """Start drivers, reconcile with the boards, then serve (returns once ready)."""
        self.duties.watch_clock()  # an unsure clock is in the first snapshot central sees
        if self.driver is not None and self.bus is not None:
            await self.driver.start(self._spawn)  # the bus's reader is supervised too
            await self.bus.reconcile()
        self._spawn("link", self.link.run)
        if self.bus is not None and self.config.lock_bus is not None:
            bus, poll_s = self.bus, self.config.lock_bus.poll_interval_s
            self._spawn("poll", lambda: bus.poll_forever(poll_s))
        if self.scanner is not None:
            scanner = self.scanner
            self._spawn("scanner", scanner.run)
            self._spawn("scan", lambda: self.desk.serve(scanner.codes))
        timer_s = self.timing.timer_interval_s
        tick = lambda: self.tick()  # noqa: E731, PLW0108 -- looked up at each tick, not at start
        self._spawn("timers", lambda: self.duties.run(timer_s, tick))
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
        """Start, then serve until a task gives up or the agent is cancelled; then stop."""
        await self.start()
        try:
            await self.tasks.wait()
        finally:
            await self.stop()

    async def stop(self, graceful: bool = True) -> None:
        """Stop the tasks, the link (`graceful`: say goodbye to the broker) and the bus; save
        the witnessed time and close the store (and the site's lock with it)."""
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
        function, not a coroutine, so it can be started again."""
        self.tasks.start(name, start)

    def alive(self) -> bool:
        """Every supervised task is running (what the systemd watchdog is fed on)."""
        return self.tasks.alive()

    # ===================================================================== the actions
    def _announce(self, event: EventPayload) -> None:
        self.link.kick()
        if self._on_event is not None:
            self._on_event(event.type)

    def _publish_state(self) -> None:
        self.link.publish_state()

    def _reply(self, reply: bytes) -> None:
        self.link.reply(reply)

    async def _unlock(self, unlock: Unlock) -> bool:
        assert self.bus is not None, "a door to open needs a lock bus"
        opened = False
        try:
            opened = await self.bus.unlock(unlock)
        finally:  # a bus that raised counts as a failed unlock too
            if self.on_unlock is not None:
                self.on_unlock(opened)
        return opened

    # ========================================================================= the inputs
    async def handle_scan(self, code: ScannedCode) -> None:
        """One code from the scanner: a pickup code, a courier badge, or a parcel label."""
        await self.desk.handle(code)

    async def handle_command_payload(self, payload: bytes) -> None:
        """A message on the commands topic: verify it, act, reply. Never raises."""
        await self.commands.handle(payload)

    async def poll_once(self) -> None:
        """Read every board once and act on what changed."""
        assert self.bus is not None
        await self.bus.poll_once()

    def apply_reading(self, reading: BoardReading, taken_at: float) -> None:
        """Move slots on one board's confirmed readings."""
        assert self.bus is not None
        self.bus.apply_reading(reading, taken_at)

    async def reconcile(self) -> None:
        """At start-up: read every board and report what changed while the agent was down."""
        assert self.bus is not None
        await self.bus.reconcile()

    def set_service(self, slot_id: str, in_service: bool, by: str, reason: str = "") -> None:
        """A technician (or central) takes a slot out of service, or puts it back."""
        now = self.clock.now()
        self.runner.run(
            lambda records: technician.set_service(
                slot_id, in_service, by=by, reason=reason, rules=self.rules, records=records
            ),
            now,
        )

    def open_maintenance(self, seconds: float | None = None) -> float:
        """A technician on site opens a maintenance session: the breaker stands aside."""
        return technician.open_maintenance(self.rules, self.state, self.clock.monotonic(), seconds)

    def _resend_state(self, from_seq: int | None) -> dict[str, Any]:
        requeued = self.store.requeue_from(from_seq) if from_seq else 0
        self.link.publish_state()
        self.link.kick()
        return {"requeued": requeued}

    def tick(self) -> None:
        """Time-driven duties: lapsed reservations, doors left open, pruning."""
        self.duties.tick()

    # ======================================================================== what it shows
    def snapshot(self) -> StateSnapshot:
        """The state snapshot central sees (edge/agent/snapshot.py)."""
        return snapshot(self.rules, self.state, self.store, self.boot_id, self.clock_guard)

    @property
    def screen(self) -> deque[ScreenLine]:
        return self.desk.screen.lines

    @property
    def scans_handled(self) -> int:
        return self.desk.screen.handled

    @property
    def scan_latencies_ms(self) -> deque[float]:
        return self.desk.screen.latencies_ms

    def door_opened_for(self, code: str) -> str | None:
        """The slot the screen says was opened for `code` (its latest scan), if any."""
        line = self.desk.screen.answer(code)
        return line.slot if line is not None else None

    def screen_answer(self, code: str, after: int | None = None) -> ScreenLine | None:
        """The screen's line for the latest scan of `code` (see Screen.answer)."""
        return self.desk.screen.answer(code, after)

    async def wait_scans_handled(self, count: int, timeout_s: float) -> bool:
        """Wait, up to `timeout_s` real seconds, until more than `count` scans were dealt
        with: what a person watching the screen waits for. False on timeout."""
        return await self.desk.screen.wait_handled(count, timeout_s)

    # The site's state, by the names the simulator, diagnostics and tests read.
    @property
    def scan_lockout(self) -> ScanLockout:
        return self.state.lockout

    @property
    def faults(self) -> dict[tuple[str, str, str], Fault]:
        return self.state.faults.active

    @property
    def slot_faults(self) -> dict[str, SlotFaultCode]:
        return self.state.faults.slots

    @property
    def readings(self) -> dict[int, BoardStatus]:
        return self.state.boards.readings

    @property
    def boards_down(self) -> set[int]:
        return self.state.boards.down

    @property
    def open_doors(self) -> dict[str, OpenDoor]:
        return self.state.doors.open

    @property
    def forced(self) -> set[str]:
        return self.state.doors.forced

    @property
    def courier(self) -> CourierSession | None:
        return self.state.courier

    @property
    def maintenance_until(self) -> float:
        return self.state.breaker.maintenance_until
