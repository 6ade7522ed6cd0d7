"""The scan lockout: stop listening to a scanner that is being fed guesses, and only then.

A door opens only for the right person, and failed scans are rate-limited (architecture.md,
"Guarantees"). But a presentation scanner re-reads a code held in view about once a second
(hardware.md §3), so one honest person produces a burst of identical scans; counting each
as a failure locked a whole site out for five minutes after six re-reads of a code just used
(issue 11, kind 9). Two rules keep the lockout for guessing:

- **A re-read is not a new scan.** The same text as the scan just before it (nothing else
  shown between) is the same scan. A re-read of a code that opened a door does not open it
  again: it is not acted on, and the screen repeats the first answer, until that door has
  been seen shut (then the same code is a new request: a consumer who changed their mind).
  A re-read of an accepted badge within `REREAD_WINDOW_S` of its last read (the window
  slides while it stays in view) is not acted on either. A re-read of a refused code is
  acted on again, since what refused it may have passed (a board back, a courier's badge
  now shown), but it never counts again and its refusal is reported only if the reason
  changed.
- **Only what looks like guessing counts.** A code that fails its signature or does not parse,
  or a label the site knows nothing of, could be a guess. A code that carries central's valid
  signature cannot be guessed, whatever else is wrong with it (used, expired, revoked, for
  another site or for a parcel not here): it is refused, never counted. And one text counts
  once within the failure window, even with other codes read between (a presentation
  scanner alternating between two labels in view): a guesser gains nothing by repeating.

Sans-I/O: texts, reasons and monotonic times in; decisions out. The agent emits the events.
"""

from __future__ import annotations

import copy
import enum
from collections import deque
from dataclasses import dataclass, field

from protocols.messages import ScanRefusal

# Presentation scanners re-read a code in view about once a second (hardware.md §3). Two
# periods and a half: a missed re-read or a slow decode still joins the same scan, while a
# person who takes a code away and shows it again after a pause is heard again.
REREAD_WINDOW_S = 2.5

# Refusals that a guesser produces: the token does not verify (malformed, forged, a token of
# another kind under this prefix), the label does not parse, or no parcel by that label is
# expected here. Everything else needs central's signature or a real parcel to produce.
GUESSING: frozenset[ScanRefusal] = frozenset(
    {
        ScanRefusal.MALFORMED,
        ScanRefusal.BAD_SIGNATURE,
        ScanRefusal.WRONG_KIND,
        ScanRefusal.BAD_LABEL,
        ScanRefusal.UNKNOWN_LABEL,
    }
)


def looks_like_guessing(reason: ScanRefusal) -> bool:
    """Whether a refusal for `reason` counts toward the lockout (see GUESSING)."""
    return reason in GUESSING


class Admission(enum.Enum):
    FRESH = "fresh"  # act on it
    REPEAT = "repeat"  # a re-read of the scan just handled: act on nothing, count nothing
    LOCKED_OUT = "locked_out"  # refuse it unread: the scanner is locked out


@dataclass(frozen=True)
class Decision:
    admission: Admission
    slot: str | None = None  # for a REPEAT: the door the first read opened, if any
    # A re-read of a refused scan (FRESH or LOCKED_OUT): `retry_of` is the refusal it had
    # (None: its handling failed). It counts nothing; report it only if the reason differs.
    retry: bool = False
    retry_of: ScanRefusal | None = None
    text: str | None = None  # what was scanned (a refusal of it counts once per window)


@dataclass(frozen=True)
class LockoutPolicy:
    """Limits from the site's timing settings (edge.config.TimingConfig)."""

    failures: int  # guessing refusals within `window_s` that start a lockout
    window_s: float
    lockout_s: float
    reread_window_s: float = REREAD_WINDOW_S

    def __post_init__(self) -> None:
        if self.failures < 1 or self.window_s <= 0 or self.lockout_s <= 0:
            raise ValueError("a lockout needs at least one failure and positive windows")
        if self.reread_window_s < 0:
            raise ValueError("the re-read window cannot be negative")


@dataclass(frozen=True)
class LockoutStarted:
    """A lockout began: `failures` guessing refusals; it lasts `lockout_s` seconds."""

    failures: int
    lockout_s: float


@dataclass
class LockoutStats:
    """Counters for diagnostics."""

    repeats: int = 0  # re-reads not acted on
    retries: int = 0  # re-reads of a refused scan, acted on again and never counted
    counted: int = 0  # refusals that counted toward a lockout
    not_counted: int = 0  # refusals of codes that cannot be guessed
    lockouts: int = 0


@dataclass
class _Sighting:
    text: str
    seen_at: float  # monotonic, the latest read of it
    served: bool = False  # it did what it asked: a door opened, a badge was accepted
    slot: str | None = None  # the door it opened
    refused: ScanRefusal | None = None  # why it opened nothing, when it was refused


@dataclass
class ScanLockout:
    """Decides, for each scan, whether to act on it, and whether a refusal locks out."""

    policy: LockoutPolicy
    stats: LockoutStats = field(default_factory=LockoutStats)

    def __post_init__(self) -> None:
        self._failures: deque[float] = deque()
        # Texts whose refusal counted, and when (monotonic): within the failure window the
        # same text counts once, even with other codes read between its reads (a courier's
        # stack of labels in a presentation scanner's view: it alternates between them).
        self._counted: dict[str, float] = {}
        self._last: _Sighting | None = None
        self.locked_out_until = float("-inf")  # monotonic

    def locked_out(self, now: float) -> bool:
        return now < self.locked_out_until

    def admit(self, text: str, now: float) -> Decision:
        """The decision for a scan of `text` read at monotonic time `now`."""
        last = self._last
        admission = Admission.LOCKED_OUT if self.locked_out(now) else Admission.FRESH
        if last is not None and last.text == text:
            within = 0 <= now - last.seen_at <= self.policy.reread_window_s
            # A door it opened stays its door until seen shut (door_closed), however long;
            # a session it opened can be asked for again once the code left the view.
            if last.served and (last.slot is not None or within):
                last.seen_at = now  # still in view: the window slides
                self.stats.repeats += 1
                return Decision(Admission.REPEAT, last.slot)
            # The same refused code, nothing shown between: the same attempt, however slow
            # the re-reads (a loaded agent, a compressed simulated day).
            if not last.served and (within or last.refused is not None):
                last.seen_at = now
                self.stats.retries += 1
                return Decision(admission, retry=True, retry_of=last.refused, text=text)
        self._last = _Sighting(text, now)
        return Decision(admission, text=text)

    def handled(
        self,
        text: str,
        now: float,
        slot: str | None = None,
        refused: ScanRefusal | None = None,
        served: bool = False,
    ) -> None:
        """The scan of `text` admitted last was dealt with at `now`: `served` (it opened
        `slot`, or needed no door: a badge), or `refused`, or neither (a lock that did not
        release: a re-read tries again). Re-reads queued meanwhile join it."""
        if self._last is not None and self._last.text == text:
            self._last.seen_at = max(self._last.seen_at, now)
            self._last.served = served and refused is None
            self._last.slot = slot
            self._last.refused = refused

    def door_closed(self, slot: str) -> None:
        """`slot` was seen shut: a new scan of the code that opened it is a new request."""
        if self._last is not None and self._last.slot == slot:
            self._last = None

    def foresee_refused(
        self,
        reason: ScanRefusal,
        now: float,
        guessing: bool | None = None,
        decision: Decision | None = None,
    ) -> LockoutStarted | None:
        """What `refused` with the same arguments would return, counting nothing: a decision
        says whether a refusal starts a lockout before the refusal is recorded and counted."""
        return copy.deepcopy(self).refused(reason, now, guessing, decision)

    def refused(
        self,
        reason: ScanRefusal,
        now: float,
        guessing: bool | None = None,
        decision: Decision | None = None,
    ) -> LockoutStarted | None:
        """Count one refusal (unless it cannot be a guess, or is a re-read's, `decision`
        being the scan's admission); a LockoutStarted if the limit was reached. `guessing`
        overrides the classification by reason when the caller knows better (a label the
        site does know, but not for this)."""
        if reason is ScanRefusal.LOCKED_OUT or (decision is not None and decision.retry):
            return None
        if not (looks_like_guessing(reason) if guessing is None else guessing):
            self.stats.not_counted += 1
            return None
        window = self.policy.window_s
        self._counted = {t: at for t, at in self._counted.items() if now - at <= window}
        text = decision.text if decision is not None else None
        if text is not None and text in self._counted:
            # A guesser gains nothing by showing the same text again; an honest person
            # whose one label is not expected here (yet) shows it again and again.
            self.stats.retries += 1
            return None
        if text is not None:
            self._counted[text] = now
        self.stats.counted += 1
        self._failures.append(now)
        while self._failures and now - self._failures[0] > window:
            self._failures.popleft()
        if len(self._failures) < self.policy.failures:
            return None
        failures = len(self._failures)
        self._failures.clear()
        self._counted.clear()
        self.locked_out_until = now + self.policy.lockout_s
        self.stats.lockouts += 1
        return LockoutStarted(failures, self.policy.lockout_s)
