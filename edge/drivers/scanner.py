"""The scanner reader: codes in, and a port that survives being unplugged.

When the port fails the reader reports a fault once, reopens on the project's reopen backoff
(protocols/backoff.py: capped exponential with jitter), and reports the fault cleared when
the scanner is back. Unreadable lines that persist (a dirty window, a framing the splitter
cannot read) are a fault too, cleared by the next good read: otherwise a site whose every
scan is dropped looks healthy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.drivers.links import Opener
from protocols.backoff import REOPEN, Backoff
from protocols.clock import Clock
from protocols.messages import ScannerFaultCode
from protocols.scanner import ScanLineSplitter, ScannedCode, ScannerFraming

log = logging.getLogger(__name__)

# One misread is a person's crumpled label; this many unreadable lines in a row with no
# good code between them is a scanner that needs a technician (or a framing mismatch).
UNREADABLE_LINES_FOR_FAULT = 3
# Either byte ends a scanner's line, whatever the configured suffix (protocols/scanner.py).
LINE_ENDS = frozenset(b"\r\n")

# (code, faulty, detail): raise (True) or clear (False) one scanner fault.
FaultHook = Callable[[ScannerFaultCode, bool, str], None]


@dataclass
class ScannerStatus:
    """The scanner's port as the reader last saw it."""

    connected: bool = False
    opens: int = 0
    failures: int = 0
    last_error: str | None = None


class ScannerReader:
    def __init__(
        self,
        opener: Opener,
        framing: ScannerFraming,
        clock: Clock,
        on_fault: FaultHook,
        rng: random.Random | None = None,
    ) -> None:
        self._opener = opener
        self._reopen = Backoff(REOPEN, rng)
        self.splitter = ScanLineSplitter(framing)
        self.clock = clock
        self._on_fault = on_fault
        self.codes: asyncio.Queue[ScannedCode] = asyncio.Queue()
        self.status = ScannerStatus()
        self._faulted = False
        self._garbled = False
        # When the line now coming in began (monotonic s on `clock`; None: between lines).
        # The lock bus holds its polls until the line ends (edge/agent/doors.py), so the
        # bus is free for the unlock its code may ask for.
        self.line_since: float | None = None
        self.between_lines = asyncio.Event()
        self.between_lines.set()

    async def run(self) -> None:
        """Read codes into `codes` until cancelled, reopening the port whenever it fails."""
        while True:
            try:
                link = await self._opener()
            except OSError as exc:  # PortClosed, or a simulator's unplugged port
                self._fault(str(exc))
                await self.clock.sleep(self._reopen.failed())
                continue
            self._reopen.succeeded()
            self.status.opens += 1
            self.status.connected = True
            self.splitter.reset()
            if self._faulted:
                self._faulted = False
                self._on_fault(ScannerFaultCode.UNPLUGGED, False, "scanner is back")
            try:
                while True:
                    chunk = await link.read()
                    for code in self.splitter.feed(chunk):
                        self.codes.put_nowait(code)
                    self._follow_line(chunk)
                    self._check_readable()
            except OSError as exc:
                self._fault(str(exc))
            finally:
                self.status.connected = False
                self._follow_line(b"\r")  # no line is coming in on a closed port
                link.close()

    def _follow_line(self, chunk: bytes) -> None:
        """Note whether a line is coming in after `chunk`: one is when the chunk did not end
        with a line's end. Its codes are queued before `between_lines` is set, so the scan
        desk runs before a held poll does."""
        if chunk[-1:] and chunk[-1] in LINE_ENDS:
            self.line_since = None
            self.between_lines.set()
        elif chunk and self.line_since is None:
            self.line_since = self.clock.monotonic()
            self.between_lines.clear()

    def health(self) -> dict[str, Any]:
        """The scanner as the technician's report shows it: the port (connected, opens,
        failures, the last error) and what its lines gave (codes, garbage, too long)."""
        lines = self.splitter.stats
        return {
            "connected": self.status.connected,
            "opens": self.status.opens,
            "failures": self.status.failures,
            "last_error": self.status.last_error,
            "codes": lines.codes,
            "garbage": lines.garbage,
            "too_long": lines.too_long,
        }

    def _check_readable(self) -> None:
        run = self.splitter.stats.unreadable_run
        if run >= UNREADABLE_LINES_FOR_FAULT and not self._garbled:
            self._garbled = True
            detail = (
                f"{run} unreadable lines in a row from the scanner: clean its window, or check "
                "its framing (prefix, suffix) against the site's scanner settings"
            )
            log.warning("scanner fault: %s", detail)
            self._on_fault(ScannerFaultCode.GARBAGE, True, detail)
        elif run == 0 and self._garbled:
            self._garbled = False
            self._on_fault(ScannerFaultCode.GARBAGE, False, "the scanner reads again")

    def _fault(self, detail: str) -> None:
        self.status.failures += 1
        self.status.last_error = detail
        if not self._faulted:
            self._faulted = True
            log.warning("scanner fault: %s", detail)
            self._on_fault(ScannerFaultCode.UNPLUGGED, True, detail)
