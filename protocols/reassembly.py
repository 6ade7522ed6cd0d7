"""Stream reassembly for serial links: bytes in whatever chunks arrive, whole frames out.

Kept apart from the codecs (style.md §2): a codec knows one frame, this knows a stream.
It resynchronises on the start byte after garbage or a bad frame, never holds more than one
partial frame, and counts what it threw away so that diagnostics can report line quality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# measure(buffer) -> the whole frame's length once the header says it, None while more bytes
# are needed, or 0 when the bytes after the start byte cannot begin a valid frame.
Measure = Callable[[bytes], int | None]
Check = Callable[[bytes], bool]


@dataclass
class ReassemblyStats:
    """Counters of one reassembler, for diagnostics ("serial error counters")."""

    frames: int = 0
    discarded_bytes: int = 0
    bad_frames: int = 0


class FrameReassembler:
    """Turns arbitrary chunks of a byte stream into whole, checked frames."""

    def __init__(
        self,
        start_bytes: frozenset[int],
        measure: Measure,
        check: Check,
        max_frame: int,
    ) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be at least 1")
        self._start_bytes = start_bytes
        self._measure = measure
        self._check = check
        self.max_frame = max_frame
        self._buffer = bytearray()
        self.stats = ReassemblyStats()

    @property
    def pending(self) -> int:
        """Bytes held back as the start of a frame not yet complete (always < max_frame)."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget a partial frame, as a driver does after a reply timeout."""
        self.stats.discarded_bytes += len(self._buffer)
        self._buffer.clear()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next bytes off the line and return every frame they complete, in order."""
        self._buffer += chunk
        buf = self._buffer
        frames: list[bytes] = []
        pos = 0
        while pos < len(buf):
            if buf[pos] not in self._start_bytes:
                pos += 1
                self.stats.discarded_bytes += 1
                continue
            length = self._measure(bytes(buf[pos : pos + self.max_frame]))
            if length is None:
                break  # header incomplete: wait for more bytes
            if length < 1 or length > self.max_frame:
                pos += 1  # not a frame start after all: resynchronise past it
                self.stats.discarded_bytes += 1
                continue
            if len(buf) - pos < length:
                break
            frame = bytes(buf[pos : pos + length])
            if self._check(frame):
                frames.append(frame)
                self.stats.frames += 1
                pos += length
            else:
                # A start byte inside garbage, or a frame hit by noise: the real next frame
                # may begin inside this one, so drop only the start byte and look again.
                self.stats.bad_frames += 1
                self.stats.discarded_bytes += 1
                pos += 1
        del buf[:pos]
        return frames
