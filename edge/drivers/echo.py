"""Echo cancelling for half-duplex RS485 adapters (hardware.md §2a).

Many USB-RS485 adapters put every byte the host transmits back into its own receive buffer
(auto-direction control, or local echo). On the 0x8A board the reply to an unlock is
byte-identical to the request when the feedback reads 11 (`8A 01 03 11 99` out and back), so
an echo taken for a reply reports a stuck lock as released (issue 11, kind 7); with the other
feedback polarity it reports a released lock as stuck, and the driver unlocks it again.

`EchoCanceller` removes exactly the bytes the host sent, in order, from the head of what
comes back, and nothing else: a byte that differs from the next expected echo byte means the
echo is not there, and everything held back is passed on untouched. It also answers, for a
probe, whether the echo came at all: that is how an "auto" bus detects its adapter.

Sans-I/O: bytes in, bytes out, no clock.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

# Bytes that are not the expected echo passed on as line noise before giving the echo up: a
# turn-round glitch is a byte or two. Past this the bytes are the board's (an adapter that
# does not echo after all), and everything is passed on as before.
ECHO_NOISE_MAX_BYTES = 4


def _echo_start(held: bytes, echo: bytes) -> int:
    """The length of the longest end of `held` that is a proper beginning of `echo`."""
    for keep in range(min(len(held), len(echo) - 1), 0, -1):
        if held[-keep:] == echo[:keep]:
            return keep
    return 0


class EchoMode(enum.StrEnum):
    """The `echo` setting of a lock bus (edge config, `[lock_bus] echo`)."""

    AUTO = "auto"  # detect at each (re)open with a query whose reply differs from its echo
    ON = "on"  # the adapter echoes: drop each request's own bytes from the line
    OFF = "off"  # the adapter does not echo


@dataclass
class EchoStats:
    echoed_frames: int = 0  # requests whose echo was seen whole and removed
    echoed_bytes: int = 0
    missing: int = 0  # expected echoes that did not come (a differing byte came instead)


class EchoCanceller:
    """Removes the expected echo of each request from the bytes that come back."""

    def __init__(self) -> None:
        self.stats = EchoStats()
        self._pending: deque[bytes] = deque()  # requests whose echo has not come yet
        self._matched = 0  # bytes of _pending[0] seen so far (held back)
        self._noise = 0  # bytes passed on as noise while an echo was expected
        self._probing = False
        self.probe_result: bool | None = None  # for the last probe: did its echo come?

    @property
    def waiting(self) -> bool:
        """Whether an echo is still expected."""
        return bool(self._pending)

    def reset(self) -> None:
        """Forget every expected echo (a reopened port)."""
        self._pending.clear()
        self._matched = 0
        self._noise = 0
        self._probing = False

    def expect(self, sent: bytes) -> None:
        """The host is about to send `sent`: its echo will come back first."""
        if sent:
            self._pending.append(bytes(sent))

    def probe(self, sent: bytes) -> None:
        """Like `expect`, for a request whose reply cannot be mistaken for its echo:
        `probe_result` then tells whether the echo came (None until the first byte says)."""
        self.reset()
        self.probe_result = None
        self._probing = True
        self.expect(sent)

    def feed(self, data: bytes) -> bytes:
        """What is left of `data` once the expected echo is removed, in arrival order."""
        out = bytearray()
        for byte in data:
            if not self._pending:
                out.append(byte)
                continue
            head = self._pending[0]
            if byte != head[self._matched]:
                # Not the echo's next byte. It may be line noise before the echo (a
                # transceiver's turn-round glitch, 00 or FF, or a stray byte equal to the
                # frame head): that is not "the echo is not there", or the whole echo would be
                # passed on next and read as the board's reply (a stuck 0x8A lock reported
                # released). No board answers before it heard the whole request, and the
                # echo is heard as it is sent: pass the noise on (the frame reader drops it)
                # and keep what could still begin the echo, up to ECHO_NOISE_MAX_BYTES.
                held = head[: self._matched] + bytes((byte,))
                keep = _echo_start(held, head)
                if self._noise + len(held) - keep <= ECHO_NOISE_MAX_BYTES:
                    out += held[: len(held) - keep]
                    self._noise += len(held) - keep
                    self._matched = keep
                    continue
            if byte == head[self._matched]:
                self._matched += 1
                if self._matched == len(head):  # the whole echo came: drop it
                    self._pending.popleft()
                    self._matched = 0
                    self._noise = 0
                    self.stats.echoed_frames += 1
                    self.stats.echoed_bytes += len(head)
                    if self._probing:
                        self._probing = False
                        self.probe_result = True
                continue
            # Not the echo, past any noise: what was held back and this byte are the board's.
            out += head[: self._matched]
            out.append(byte)
            self.stats.missing += len(self._pending)
            if self._probing:
                self.probe_result = False
            self.reset()
        return bytes(out)
