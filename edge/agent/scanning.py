"""The scanner's side of the shell: each code read is admitted, decided, recorded, then the
door it opens is unlocked and the screen answers (decisions: edge/site/scans.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from edge.agent.runner import Core
from edge.agent.screen import STORE_REFUSAL, Screen, ScreenLine
from edge.errors import HardwareError
from edge.site import scans
from edge.site.actions import Action, Refused, Unlock
from edge.site.lockout import Admission
from edge.store.sqlite import StoreUnavailable
from protocols.messages import ScanKind, ScanRefusal
from protocols.scanner import ScannedCode
from protocols.tokens import TokenVerifier

log = logging.getLogger(__name__)

Unlocker = Callable[[Unlock], Awaitable[bool]]
# Told how each scan ended: "opened", "accepted", "refused" (with the reason), "reread" or
# "failed" (the host counts them for its metrics; one call per scan, nothing read).
ScanCounter = Callable[[str, ScanRefusal | None], None]


class ScanDesk:
    """Deals with one scan at a time, in the order read."""

    def __init__(self, core: Core, verifier: TokenVerifier, unlock: Unlocker) -> None:
        self.rules = core.rules
        self.state = core.state
        self.runner = core.runner
        self.clock = core.clock
        self.verifier = verifier
        self.screen = Screen()
        self._unlock = unlock
        self._store_failed = core.store_failed
        self._lock = asyncio.Lock()
        self.on_scan: ScanCounter | None = None

    async def serve(self, codes: asyncio.Queue[ScannedCode]) -> None:
        """Deal with every code the scanner reads (a supervised task)."""
        while True:
            code = await codes.get()
            started = time.perf_counter()
            opened, refusal = None, None
            try:
                opened = await self.handle(code)
            except HardwareError as exc:
                log.warning("site %s: scan could not be served: %s", self.rules.site, exc)
                self._count("failed")
            except StoreUnavailable as exc:
                # Its record could not be written, so no door moved: say why, and go on.
                log.error("site %s: scan refused, the store failed: %s", self.rules.site, exc)
                refusal = STORE_REFUSAL
                self._store_failed()
                self._count("failed")
            latency_ms = (time.perf_counter() - started) * 1000
            self.screen.show(ScreenLine(code.text, opened, refusal), latency_ms)

    async def handle(self, code: ScannedCode) -> str | None:
        """One code from the scanner; the slot whose door it opened, if any."""
        async with self._lock:
            text, lockout = code.text, self.state.lockout
            kind = scans.scan_kind(text)
            decision = lockout.admit(text, self.clock.monotonic())
            if decision.admission is Admission.REPEAT:
                self._count("reread")
                return decision.slot  # a re-read: the screen still says the same
            opened: str | None = None
            refused = None
            try:
                if decision.admission is Admission.LOCKED_OUT:
                    raise Refused(kind, ScanRefusal.LOCKED_OUT, "too many failed scans")
                opened = await self._act(text)
            except Refused as refusal:
                refused = refusal.reason
                now = self.clock.now()
                self.runner.apply(
                    scans.refusal(refusal, decision, self.state, now, self.clock.monotonic()), now
                )
            served = scans.served(kind, self.rules, opened, refused is not None)
            lockout.handled(text, self.clock.monotonic(), opened, refused, served)
            if refused is not None:
                self._count("refused", refused)
            else:
                self._count("opened" if opened is not None else "accepted")
            return opened

    def _count(self, result: str, refusal: ScanRefusal | None = None) -> None:
        if self.on_scan is not None:
            self.on_scan(result, refusal)

    async def _act(self, text: str) -> str | None:
        now, now_m = self.clock.now(), self.clock.monotonic()
        # A badge reads and writes no record: it needs no transaction, so it is accepted
        # even while another program holds the store's write lock.
        badge = scans.scan_kind(text) is ScanKind.COURIER_BADGE
        actions = self.runner.run(
            lambda records: scans.decide(
                text,
                rules=self.rules,
                state=self.state,
                records=records,
                verifier=self.verifier,
                now=now,
                now_m=now_m,
            ),
            now,
            atomic=not badge,
        )
        return await self.unlock_all(actions)

    async def unlock_all(self, actions: list[Action]) -> str | None:
        """Release the lock the actions open (a scan opens one door at most)."""
        opened = None
        for action in actions:
            if isinstance(action, Unlock) and await self._unlock(action):
                opened = action.slot
        return opened
