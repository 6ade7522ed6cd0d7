"""An RS485 adapter that puts a noise byte on the line each time it turns the bus round: the
field fault "a glitch before the echo".

A half-duplex transceiver without fail-safe bias lets the idle line float while it switches
from receive to transmit and back; the UART reads that as a byte (typically 00 or FF)
before the adapter's echo of the host's request. An echo canceller that took that byte for
"no echo here" passed the whole echo on, and on the 0x8A board the echo of an unlock reads as
"released" (issue 11 kind 7): a stuck lock reported released.

It is the host's link that hears it, so it is played by wrapping the opener the agent is
given for its lock bus: `SiteAgent(..., lock_opener=with_turnround_glitch(opener, 0x00))`,
with the site's `FaultKind.ADAPTER_ECHO` on; the verdict's usual checks (no door recorded
open that did not open: a stuck lock is a lock fault, not a pickup) cover it.
"""

from __future__ import annotations

from edge.drivers.links import ByteLink, Opener

DEFAULT_NOISE = 0x00


class GlitchingLink:
    """A host link on whose line a noise byte precedes what comes back after each write."""

    def __init__(self, link: ByteLink, noise: int = DEFAULT_NOISE) -> None:
        if not 0 <= noise <= 0xFF:
            raise ValueError(f"a noise byte is 0-255, not {noise}")
        self._link = link
        self._noise = bytes((noise,))
        self._glitch = False
        self.written: list[bytes] = []  # what the host wrote, for tests

    async def read(self) -> bytes:
        data = await self._link.read()
        if self._glitch:
            self._glitch = False
            data = self._noise + data
        return data

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        self._glitch = True
        self._link.write(data)

    def close(self) -> None:
        self._link.close()


def with_turnround_glitch(opener: Opener, noise: int = DEFAULT_NOISE) -> Opener:
    """`opener`, whose links hear `noise` on the line before the reply to each write."""

    async def open_glitching() -> ByteLink:
        return GlitchingLink(await opener(), noise)

    return open_glitching
