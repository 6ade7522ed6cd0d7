"""The lock bus at the shell: release locks, poll the boards, reconcile at start-up
(decisions: edge/site/doors.py, readings.py, reconcile.py)."""

from __future__ import annotations

import contextlib
import logging

from edge.agent.runner import Core, Decide
from edge.drivers.lockboard import LockBoardDriver
from edge.drivers.scanner import ScannerReader
from edge.errors import LockDidNotRelease, NoReply
from edge.site import doors, readings, reconcile
from edge.site.actions import Action, BoardStatus, Reading, Unlock
from edge.site.records import SiteRecords
from edge.store.sqlite import StoreUnavailable
from edge.timing import within

log = logging.getLogger(__name__)

# The longest a poll waits for a scanner's line to end, from the line's start. A pickup
# code's line (~180 characters) takes ~0.19 s at a scanner's usual 9,600 baud; a poll held
# longer would notice a door that much later. A line that never ends (noise with no CR) holds
# the polls this long from its start, and no longer.
SCAN_LINE_HOLD_S = 0.5


async def after_scan_line(scanner: ScannerReader | None) -> None:
    """Wait while a code is coming in from `scanner` (at most SCAN_LINE_HOLD_S from the
    line's start). The bus is half-duplex and a board's status exchange takes ~8 ms at
    19,200 baud: a poll begun as the code's last byte arrives would hold up the unlock the
    code asks for by as much. Held, the poll leaves the bus free for it."""
    if scanner is None or scanner.line_since is None:
        return
    left = scanner.line_since + SCAN_LINE_HOLD_S - scanner.clock.monotonic()
    if left > 0:
        with contextlib.suppress(TimeoutError):
            await within(scanner.clock, left, scanner.between_lines.wait())


class LockBus:
    """The site's boards, through the lock-bus driver's public methods."""

    def __init__(
        self, core: Core, driver: LockBoardDriver, scanner: ScannerReader | None = None
    ) -> None:
        self.driver = driver
        self.rules = core.rules
        self.state = core.state
        self.runner = core.runner
        self.clock = core.clock
        self._store_failed = core.store_failed
        # The site's scanner, if it has one: a poll waits while a code is coming in from it.
        self.scanner = scanner

    async def unlock(self, unlock: Unlock) -> bool:
        """Release a slot's lock (its opening already committed). On failure, put the slot
        back and report the fault; False."""
        place = self.rules.slots[unlock.slot]
        try:
            await self.driver.unlock(place.board, place.lock)
        except (NoReply, LockDidNotRelease) as exc:
            now = self.clock.now()
            did_not_release = isinstance(exc, LockDidNotRelease)
            failed = doors.unlock_failed(unlock.slot, unlock.undo, str(exc), did_not_release, now)
            self.runner.apply(failed, now)
            return False
        now_m = self.clock.monotonic()
        done = doors.unlocked(unlock.slot, self.state, now_m, unlock.retrying_fault)
        try:
            # The door is followed even if the evidence of its release cannot be written.
            self.runner.apply([*done, *doors.released(unlock.slot)], self.clock.now(), True)
        except StoreUnavailable as exc:
            log.warning(
                "site %s: release of %s not recorded: %s", self.rules.site, unlock.slot, exc
            )
        return True

    async def poll_forever(self, interval_s: float) -> None:
        """Poll every board each `interval_s` (a supervised task)."""
        while True:
            try:
                await self.poll_once()
            except StoreUnavailable as exc:
                # The change stays unrecorded and is seen again at the next poll (below).
                log.error("site %s: a reading could not be recorded: %s", self.rules.site, exc)
                self._store_failed()
            await self.clock.sleep(interval_s)

    async def poll_once(self) -> None:
        """Read every board once and act on what changed."""
        for board in self.driver.boards:
            await after_scan_line(self.scanner)
            started = self.clock.monotonic()
            try:
                reading = await self.driver.read_board(board)
            except NoReply as exc:
                now = self.clock.now()
                self.runner.apply(readings.board_down(board, str(exc), self.state, now), now)
                continue
            trusted, changes = readings.board_trusted(board, self.state)
            self.runner.apply(changes, self.clock.now)
            if trusted:
                self.apply_reading(reading, started)
        self.check_doors_left_open()

    def apply_reading(self, reading: BoardStatus, taken_at: float) -> None:
        """Move slots on one board's confirmed reading, taken at monotonic `taken_at`: each
        changed slot in its own transaction. If one cannot be recorded the reading is not
        kept, so the next poll sees the same changes again (those recorded change nothing
        the second time)."""
        for seen in readings.changed_slots(reading, self.rules, self.state):
            now, now_m = self.clock.now(), self.clock.monotonic()
            self.runner.run(self._slot(seen, taken_at, now, now_m), now, atomic=False)
        if self.state.boards.readings.get(reading.board) is not reading:
            # The driver gives the very reading it gave last time when the board's answer
            # did not change (edge/drivers/boards/base.py): then it is kept already.
            self.runner.apply([Reading(reading)], self.clock.now)

    def _slot(self, seen: readings.SlotSeen, taken_at: float, now: float, now_m: float) -> Decide:
        def decide(records: SiteRecords) -> list[Action]:
            return readings.slot_reading(
                seen, taken_at, state=self.state, records=records, now=now, now_m=now_m
            )

        return decide

    def check_doors_left_open(self) -> None:
        """Report the doors followed that stayed open too long (once each)."""
        left = readings.doors_left_open(
            self.rules, self.state, self.rules.door_left_open_s, self.clock.monotonic()
        )
        if left:
            self.runner.apply(left, self.clock.now())

    async def reconcile(self) -> None:
        """At start-up: read every board and report what changed while the agent was down."""
        for board in self.driver.boards:
            try:
                reading = await self.driver.read_board(board)
            except NoReply as exc:
                self.runner.run(self._silent(board, str(exc)), self.clock.now(), atomic=False)
                continue
            self.runner.run(self._found(reading), self.clock.now(), atomic=False)

    def _silent(self, board: int, detail: str) -> Decide:
        now = self.clock.now()

        def decide(records: SiteRecords) -> list[Action]:
            return reconcile.board_silent(
                board, detail, rules=self.rules, state=self.state, records=records, now=now
            )

        return decide

    def _found(self, reading: BoardStatus) -> Decide:
        now, now_m = self.clock.now(), self.clock.monotonic()

        def decide(records: SiteRecords) -> list[Action]:
            return reconcile.board_found(
                reading, rules=self.rules, state=self.state, records=records, now=now, now_m=now_m
            )

        return decide
