"""What a sans-I/O device says, and when: the contract between a device and its transport.

A device never writes. When a host's frame has fully arrived it queues a `Reply` that is
ready at a time (the frame's end on the wire plus the device's reaction time) and is
produced only then, so that it reports the state of the hardware at that moment (a board
that lost power in between says nothing; a door that sprang open shows open). The transport
takes replies in order, waits until each is ready, then keeps it on the wire for its wire
time before the host sees it. Replies are queued in the order the device will send them and
their ready times never go backwards, as on one serial line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# 8N1: a start bit, eight data bits and a stop bit per byte.
BITS_PER_BYTE = 10

Produce = Callable[[float], bytes]


def wire_time(byte_count: int, baud: int) -> float:
    """Seconds `byte_count` bytes take on a serial line at `baud` (8N1)."""
    return byte_count * BITS_PER_BYTE / baud


@dataclass(frozen=True)
class Reply:
    """Bytes the device will start sending at `ready_at`, made by `produce(ready_at)`."""

    ready_at: float
    produce: Produce


class ReplySchedule:
    """A device's queue of replies, in send order; a transport drains it."""

    def __init__(self) -> None:
        self._queue: deque[Reply] = deque()
        self._last_ready = float("-inf")
        self.listener: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, ready_at: float, produce: Produce) -> None:
        # One line, one sender: a reply cannot be ready before the one queued ahead of it.
        ready_at = max(ready_at, self._last_ready)
        self._last_ready = ready_at
        self._queue.append(Reply(ready_at, produce))
        if self.listener is not None:
            self.listener()

    def send(self, ready_at: float, data: bytes) -> None:
        """Queue bytes that do not depend on the state at send time (e.g. a scanned code)."""
        self.push(ready_at, lambda _at: data)

    def peek(self) -> Reply | None:
        return self._queue[0] if self._queue else None

    def pop(self) -> Reply:
        return self._queue.popleft()

    def clear(self) -> None:
        self._queue.clear()


class RxLine:
    """When each received byte has fully arrived, given when its chunk was seen.

    A pty delivers a whole write at once; a real line needs `wire_time` for it. A device
    acts on a frame only at the time its last byte would have arrived.
    """

    def __init__(self, baud: int) -> None:
        self.baud = baud
        self._busy_until = float("-inf")

    def byte_end_times(self, count: int, seen_at: float) -> list[float]:
        start = max(seen_at, self._busy_until)
        per_byte = wire_time(1, self.baud)
        ends = [start + (i + 1) * per_byte for i in range(count)]
        if ends:
            self._busy_until = ends[-1]
        return ends


class SerialDevice(Protocol):
    """What a transport needs from a simulated device."""

    replies: ReplySchedule

    @property
    def baud(self) -> int:
        """The line speed the device is set to; a host at another speed is not understood."""

    def receive(self, data: bytes, seen_at: float) -> None:
        """Bytes from the host, seen at `seen_at` (clock.monotonic())."""
