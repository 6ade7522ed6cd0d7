"""The lock-board driver over one bus, for every family (the family's bytes: edge/drivers/boards/).

The bus is half-duplex RS485 shared by every board on it: one transaction at a time, so a
status poll never collides with an unlock. Each request waits for its own reply (matched by
address and command), times out, and is retried with backoff. A port that disappears is
reopened on the project's reopen backoff (protocols/backoff.py) while callers get NoReply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from edge.config import LockBusConfig
from edge.drivers.boards import BoardReading, dialect_for
from edge.drivers.echo import EchoCanceller, EchoMode
from edge.drivers.links import ByteLink, Opener
from edge.errors import LockDidNotRelease, NoReply, NotSent
from edge.timing import within
from protocols.backoff import REOPEN, Backoff
from protocols.clock import Clock
from protocols.reassembly import FrameReassembler

__all__ = ["BoardHealth", "BoardReading", "Bus", "BusStats", "LockBoardDriver", "Spawn"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# How a caller runs the bus's reader under its supervisor: spawn(task name, coroutine function).
Spawn = Callable[[str, Callable[[], Awaitable[None]]], None]

RETRY_WAIT_MIN_S = 0.02
RETRY_WAIT_MAX_S = 0.5
# The coil holds a lock released ~500 ms (hardware.md §1): a confirming read within this
# window shows the release if there was one.
UNLOCK_EVIDENCE_WINDOW_S = 0.3
# After a timeout, how many reply timeouts of silence to wait for at most before going on.
QUIET_MAX_TIMEOUTS = 6
QUIET_SILENCE_TIMEOUTS = 2  # the silence that ends the wait, in reply timeouts
# On echo "auto", probes in a row without the echo before an echoing adapter is taken to
# have stopped: one corrupted echo must not make the next one pass for a reply.
ECHO_MISSES_TO_STOP = 2
# Loop passes a request whose reply timeout ran out gives the loop before calling the reply
# missing. A reply in time can be held up by the agent's own loop, not the board: when the
# loop was busy past the deadline, the timeout and the reply's bytes become due in the same
# pass, and the timeout runs first. From bytes due to a frame in the bus's queue takes at most
# four passes (a simulated device's own timer, the port's reader callback, the bus's reader
# task, the reassembler); twice that for margin. Each pass is one turn of the loop, not a wait:
# a dead board is still called silent one reply timeout after the request.
LAST_LOOK_PASSES = 8
# Then once more after this many real seconds: bytes written to a pty late (a simulated device
# served by this same busy loop) reach the port through the kernel's tty layer a moment after
# the write, not within the same few passes. Negligible beside any reply timeout.
LAST_LOOK_WAIT_S = 0.005


@dataclass
class BoardHealth:
    online: bool = True
    last_reply_ms: float | None = None
    replies: int = 0
    no_replies: int = 0


@dataclass
class BusStats:
    transactions: int = 0
    timeouts: int = 0
    retries: int = 0
    reopens: int = 0
    port_errors: int = 0
    late_replies: int = 0
    # Replies found on the last look after their timeout ran out (LAST_LOOK_PASSES): due in
    # time, read late because the agent's loop was busy. Not timeouts, not board faults.
    replies_on_last_look: int = 0
    echo: bool | None = None  # does the adapter echo? None: not known yet
    boards: dict[int, BoardHealth] = field(default_factory=dict)


class Bus:
    """A serial line shared by boards: serialised transactions over a reopenable link."""

    def __init__(
        self,
        opener: Opener,
        reassembler: FrameReassembler,
        clock: Clock,
        reply_timeout_s: float,
        echo: EchoMode = EchoMode.OFF,
    ) -> None:
        self._opener = opener
        self.reassembler = reassembler
        self.clock = clock
        self.reply_timeout_s = reply_timeout_s
        self.echo_mode = echo
        self.echo = EchoCanceller()
        self._echo_misses = 0  # probes in a row that saw no echo while echo was on
        # Run before a request whose reply could pass for its echo while echo is unknown:
        # a transaction with reveals_echo (set by the driver: a status read).
        self.echo_probe: Callable[[], Awaitable[object]] | None = None
        self._link: ByteLink | None = None
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._linked = asyncio.Event()
        self._late_replies_possible = False
        self.stats = BusStats()

    @property
    def port_open(self) -> bool:
        return self._link is not None

    async def start(self, spawn: Spawn | None = None) -> None:
        """Start reading the bus: under the agent's supervisor when given (`spawn(name,
        start)`: restarted if it ever dies), else as a task of the bus's own (tools, tests)."""
        if spawn is not None:
            spawn("lock bus", self._read_forever)
        else:
            self._reader = asyncio.ensure_future(self._read_forever())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._link is not None:
            self._link.close()
            self._link = None

    async def _read_forever(self) -> None:
        reopen = Backoff(REOPEN)
        while True:
            try:
                link = await self._opener()
            except OSError as exc:  # PortClosed, or a simulator's unplugged port
                self.stats.port_errors += 1
                wait_s = reopen.failed()
                log.warning("lock bus: %s; retrying in %.1f s", exc, wait_s)
                await self.clock.sleep(wait_s)
                continue
            reopen.succeeded()
            self.echo.reset()
            self._echo_misses = 0
            if self.echo_mode is EchoMode.AUTO:
                self.stats.echo = None  # another adapter may be behind the reopened port
            else:
                self.stats.echo = self.echo_mode is EchoMode.ON
            self._link = link
            self._linked.set()
            try:
                while True:
                    data = self.echo.feed(await link.read())
                    for frame in self.reassembler.feed(data):
                        self._frames.put_nowait(frame)
            except OSError as exc:
                log.warning("lock bus lost: %s", exc)
                self.stats.port_errors += 1
                self.stats.reopens += 1
            finally:
                self._link = None
                self._linked.clear()
                link.close()

    async def transact(
        self,
        request: bytes,
        match: Callable[[bytes], bool] | None,
        timeout: float | None = None,
        *,
        reveals_echo: bool = False,
    ) -> bytes | None:
        """Send `request`; return the first frame `match` accepts (None if no reply wanted).

        `reveals_echo`: the request's reply differs from the request from its first bytes
        (a status query), so it can tell whether the adapter echoes. While that is unknown,
        any other request waits for `echo_probe` first.
        """
        if self.stats.echo is None and not reveals_echo and self.echo_probe is not None:
            with contextlib.suppress(NoReply):  # silence settles it too (see _settle_echo)
                await self.echo_probe()
        async with self._lock:
            self.stats.transactions += 1
            link = self._link
            if link is None:
                raise NotSent("the lock bus port is not open")
            if self._late_replies_possible:
                await self._quiet()
            while not self._frames.empty():  # stale replies of an earlier, timed-out request
                self._frames.get_nowait()
            self.reassembler.reset()
            # On "auto" every status query checks the adapter again: an adapter can change
            # behind a port that never closed (a hub, a converter power-cycled on its own).
            probing = reveals_echo and self.echo_mode is EchoMode.AUTO
            if probing:
                self.echo.probe(request)
            elif self.stats.echo:
                # Only this request's echo is expected: an earlier one's that never came (an
                # adapter that stopped echoing) would take this echo's bytes for noise.
                self.echo.reset()
                self.echo.expect(request)  # armed before the write: the echo comes at once
            try:
                link.write(request)
            except OSError as exc:
                self.echo.reset()
                raise NotSent(str(exc)) from exc
            try:
                if match is None:
                    return None
                return await within(
                    self.clock, timeout or self.reply_timeout_s, self._reply_matching(match)
                )
            except TimeoutError:
                late = None if match is None else await self._last_look(match)
                if late is not None:
                    self.stats.replies_on_last_look += 1
                    return late
                self.stats.timeouts += 1
                self._late_replies_possible = True
                raise NoReply(f"no reply to {request.hex(' ')}") from None
            finally:
                if probing:
                    self._settle_echo()

    def _settle_echo(self) -> None:
        """After a probe: its echo came whole (an echoing adapter), or something else came
        first, or nothing at all (an adapter that echoes does so whether or not a board
        answers, so silence says no echo when nothing is known yet, and nothing otherwise).

        No board sends a query's exact bytes, so one whole echo turns echo on; turning it
        off, the direction in which an echo would next be taken for a reply, takes
        ECHO_MISSES_TO_STOP probes in a row whose first bytes were not the echo."""
        result = self.echo.probe_result
        self.echo.reset()
        if self._link is None:
            return  # the port went away meanwhile: detect again on the next one
        before = self.stats.echo
        if result is True:
            self._echo_misses = 0
            self.stats.echo = True
        elif result is False or before is None:
            self._echo_misses += 1
            if before is None or self._echo_misses >= ECHO_MISSES_TO_STOP:
                self.stats.echo = False
        if self.stats.echo != before:
            log.info("lock bus: the adapter %s", "echoes" if self.stats.echo else "does not echo")

    async def _quiet(self) -> None:
        """After a timeout a slow board may still answer the old request, and its reply
        would pass for the answer to the next one (the frames carry no request id). Wait
        until the line has been silent for a whole reply timeout, dropping what arrives."""
        deadline = self.clock.monotonic() + QUIET_MAX_TIMEOUTS * self.reply_timeout_s
        while self.clock.monotonic() < deadline:
            try:
                await within(
                    self.clock, QUIET_SILENCE_TIMEOUTS * self.reply_timeout_s, self._frames.get()
                )
            except TimeoutError:
                break
            self.stats.late_replies += 1
        self._late_replies_possible = False

    async def _last_look(self, match: Callable[[bytes], bool]) -> bytes | None:
        """The reply timeout ran out: the first frame `match` accepts among those the loop
        reads in LAST_LOOK_PASSES more passes (bytes already in the port's buffer, or due
        from a simulated device by now), or None: the reply is missing.

        The timeout is measured on the clock, and a loop busy elsewhere (a loaded
        simulator; on a Pi, a slow fsync) runs it late, in the same pass as the reply's
        bytes; without this look the agent would call a board that answered in time silent.
        Frames `match` rejects are dropped, as `_reply_matching` drops them."""
        for wait_s in (0.0, LAST_LOOK_WAIT_S):
            await asyncio.sleep(wait_s)  # real time, whatever the bus's clock
            for _ in range(LAST_LOOK_PASSES):
                await asyncio.sleep(0)  # one pass of the loop: readers, due timers, woken tasks
                while not self._frames.empty():
                    frame = self._frames.get_nowait()
                    if match(frame):
                        return frame
        return None

    async def _reply_matching(self, match: Callable[[bytes], bool]) -> bytes:
        while True:
            frame = await self._frames.get()
            if match(frame):
                return frame


class LockBoardDriver:
    """Reads board sensors and releases locks for the agent, whatever the board family.

    The family's bytes are its dialect's (edge/drivers/boards/, looked up by
    `config.family`); this class owns the bus, the one retry policy, the health counters
    and the confirmation of an unlock.
    """

    def __init__(self, config: LockBusConfig, opener: Opener, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.family = config.family
        self.dialect = dialect_for(config.family)(config)
        self.boards = list(self.dialect.layout)
        self.bus = Bus(
            opener,
            self.dialect.reassembler(),
            clock,
            config.reply_timeout_s,
            EchoMode(config.echo),
        )
        # A status read is the harmless query that tells an echoing adapter (hardware.md
        # §2a): its reply differs from the request from the third byte on, in every family.
        self.bus.echo_probe = lambda: self.read_board(self.boards[0])
        for board in self.boards:
            self.bus.stats.boards[board] = BoardHealth()

    async def start(self, spawn: Spawn | None = None) -> None:
        await self.bus.start(spawn)

    async def stop(self) -> None:
        await self.bus.stop()

    async def _retried(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        again: Callable[[T], bool] = lambda _result: False,
        retry_on: tuple[type[Exception], ...] = (),
    ) -> T:
        """The driver's one retry policy: up to `config.retries` attempts, waiting
        RETRY_WAIT_MIN_S, doubling up to RETRY_WAIT_MAX_S, between them (on the driver's
        clock; each wait counts in `stats.retries`). An attempt is made again when it raises
        one of `retry_on` or its result satisfies `again`; the last attempt's exception is
        raised, or its result returned.

        Not tenacity: this runs on every poll of every board, where an AsyncRetrying costs
        ~45 us per call against a plain await's ~0.1 us."""
        wait = RETRY_WAIT_MIN_S
        for left in range(self.config.retries - 1, -1, -1):
            try:
                result = await attempt()
            except retry_on:
                if not left:
                    raise
            else:
                if not left or not again(result):
                    return result
            self.bus.stats.retries += 1
            await self.clock.sleep(wait)
            wait = min(RETRY_WAIT_MAX_S, wait * 2)
        raise AssertionError("config.retries is at least 1")  # pydantic's ge=1 holds it

    async def read_board(self, board: int) -> BoardReading:
        """One board's sensors, retried; NoReply after the last attempt."""
        health = self.bus.stats.boards[board]
        started = time.perf_counter()
        try:
            reading = await self._retried(
                lambda: self.dialect.read(self.bus, board), retry_on=(NoReply,)
            )
        except NoReply:
            health.no_replies += 1
            health.online = False
            raise
        health.online = True
        health.replies += 1
        health.last_reply_ms = (time.perf_counter() - started) * 1000
        return reading

    async def unlock(self, board: int, lock: int) -> None:
        """Release one lock and confirm it released; LockDidNotRelease otherwise."""
        released = await self._retried(
            lambda: self._unlock_once(board, lock), again=lambda ok: not ok
        )
        if not released:
            raise LockDidNotRelease(f"board {board} lock {lock} did not release")

    async def _unlock_once(self, board: int, lock: int) -> bool:
        try:
            verdict = await self.dialect.unlock(self.bus, board, lock)
        except NotSent:
            raise
        except NoReply:
            return True  # sent, but the board's answer never came: the sensor settles it
        if verdict is not None:
            return verdict
        # The board's answer says nothing: wait for the coil, then ask (hardware.md §1).
        sent_at = self.clock.monotonic()
        await self.clock.sleep(self.dialect.confirm_delay_s)
        try:
            reading = await self.read_board(board)
        except NotSent:
            raise
        except NoReply:
            # The unlock went out; whether it worked is unknown. Never send it again
            # blind: the door's own sensor (seen open, or shut with the IR's verdict)
            # settles it at the next good reading.
            return True
        if reading.door_open[lock - 1]:
            return True
        # A "locked" reading proves the lock did not release only while the coil would
        # still hold it open. Later, a person may already have opened and shut the door,
        # and unlocking again would open a door nobody is standing at: leave it to the
        # door's sensors (the agent sees the door shut, and whether the parcel left).
        return self.clock.monotonic() - sent_at > UNLOCK_EVIDENCE_WINDOW_S

    def health(self) -> dict[str, Any]:
        """The bus as the technician's report shows it: the port, transaction counters,
        the reassembler's frame counts and the adapter's echo (None: not known yet)."""
        stats = self.bus.stats
        frames = self.bus.reassembler.stats
        return {
            "family": self.family.value,
            "port_open": self.bus.port_open,
            "transactions": stats.transactions,
            "timeouts": stats.timeouts,
            "replies_on_last_look": stats.replies_on_last_look,
            "retries": stats.retries,
            "reopens": stats.reopens,
            "port_errors": stats.port_errors,
            "frames": frames.frames,
            "bad_frames": frames.bad_frames,
            "discarded_bytes": frames.discarded_bytes,
            "echo": stats.echo,
            "echoed_bytes": self.bus.echo.stats.echoed_bytes,
        }
