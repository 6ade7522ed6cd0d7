"""The part of a transport that both the pty and the in-memory one share: it hands the
host's bytes to a device and plays the device's replies onto the line at their time.

A real board does not understand a host at another baud rate, and the host cannot read the
board either, so bytes are dropped both ways while the speeds differ (counted in `stats`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hw_sim.devices.reply_schedule import SerialDevice, wire_time
from protocols.clock import Clock


@dataclass
class PortStats:
    """What crossed (or failed to cross) one port, for tests and the control channel."""

    bytes_from_host: int = 0
    bytes_to_host: int = 0
    wrong_baud_bytes: int = 0  # dropped either way because the host's speed was wrong
    lost_bytes: int = 0  # sent while no host was there, or faster than it read
    echoed_bytes: int = 0  # sent back to the host by an echoing adapter


class Port(Protocol):
    """A transport endpoint of one device (PtyPort, MemoryPort)."""

    stats: PortStats

    @property
    def plugged(self) -> bool: ...

    def start(self) -> None: ...

    def unplug(self) -> None: ...

    def plug(self) -> None: ...

    def set_echo(self, on: bool) -> None:
        """An adapter that echoes (hardware.md §2a): every byte the host writes comes back."""

    async def aclose(self) -> None: ...


class DeviceLine:
    """Drives one device: `hear` feeds it the host's bytes; `run` plays its replies."""

    def __init__(
        self,
        device: SerialDevice,
        clock: Clock,
        emit: Callable[[bytes], None],
        host_baud: Callable[[], int | None],
        stats: PortStats,
    ) -> None:
        self.device = device
        self.clock = clock
        self._emit = emit
        self._host_baud = host_baud
        self.stats = stats
        self._line_free_at = float("-inf")
        # A half-duplex adapter with local echo (hardware.md §2a): the host hears its own
        # bytes at once, at its own speed, whatever the device makes of them.
        self.echo = False
        # None: a reply reaches the host whole, once its last byte is off the wire (cheapest
        # for a fleet). A number: as its bytes leave the wire, this many at a time, as a
        # UART's FIFO hands them on (a host sees a scanner's line begin before it ends).
        self.chunk_bytes: int | None = None

    def _speeds_match(self) -> bool:
        host = self._host_baud()  # None: no host there to misunderstand
        return host is None or host == self.device.baud

    def hear(self, data: bytes) -> None:
        """Bytes the host wrote, seen now."""
        if not data:
            return
        self.stats.bytes_from_host += len(data)
        if self.echo:
            self.stats.echoed_bytes += len(data)
            self._emit(data)
        if not self._speeds_match():
            self.stats.wrong_baud_bytes += len(data)
            return
        self.device.receive(data, self.clock.monotonic())

    async def _until(self, when: float) -> None:
        delay = when - self.clock.monotonic()
        if delay > 0:
            await self.clock.sleep(delay)

    async def run(self) -> None:
        """Play replies until cancelled."""
        replies = self.device.replies
        wake = asyncio.Event()
        replies.listener = wake.set
        try:
            while True:
                reply = replies.peek()
                if reply is None:
                    wake.clear()
                    await wake.wait()
                    continue
                await self._until(reply.ready_at)
                if replies.peek() is not reply:
                    continue  # the queue was cleared while we waited
                replies.pop()
                data = reply.produce(reply.ready_at)
                if not data:
                    continue
                start = max(reply.ready_at, self._line_free_at)
                self._line_free_at = start + wire_time(len(data), self.device.baud)
                step = self.chunk_bytes or len(data)
                for sent in range(0, len(data), step):
                    chunk = data[sent : sent + step]
                    # The host has the bytes only once the last one is off the wire.
                    await self._until(start + wire_time(sent + len(chunk), self.device.baud))
                    if not self._speeds_match():
                        self.stats.wrong_baud_bytes += len(chunk)
                        continue
                    self._emit(chunk)
        finally:
            replies.listener = None


class LinePort(ABC):
    """What both transports do around their DeviceLine: serve it in a task, echo like an
    adapter, and close. A transport says how bytes reach the host (`_emit`), at which speed
    the host listens (`_host_baud`) and what pulling the cable does (`unplug`)."""

    def __init__(self, device: SerialDevice, clock: Clock) -> None:
        self.device = device
        self.stats = PortStats()
        self._line = DeviceLine(device, clock, self._emit, self._host_baud, self.stats)
        self._task: asyncio.Task[None] | None = None

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """Play the device's replies in a task of `loop`, once."""
        if self._task is None:
            self._task = loop.create_task(self._line.run())

    @abstractmethod
    def unplug(self) -> None:
        """Pull the cable."""

    def set_echo(self, on: bool) -> None:
        """Make the adapter echo every byte the host writes (hardware.md §2a), or stop."""
        self._line.echo = on

    async def aclose(self) -> None:
        """Unplug and stop playing replies."""
        self.unplug()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @abstractmethod
    def _host_baud(self) -> int | None:
        """The host's speed now; None while no host is there."""

    @abstractmethod
    def _emit(self, data: bytes) -> None:
        """Put `data` on the line to the host (counted in `stats`)."""
