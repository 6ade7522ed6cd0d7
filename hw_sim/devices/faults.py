"""Faults: what can go wrong with a board, a compartment or a scanner, switched on and off
by script or by a seeded random plan.

Each fault is switched with `SimulatedSite.set_fault(kind, on, board=, slot=, value=)`. A
plan is a list of `FaultEvent`s at times from the plan's start; `random_plan` draws one from
a seed, so a failing run can be replayed exactly.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hw_sim.errors import ConfigError
from protocols.clock import Clock


class Scope(enum.StrEnum):
    BOARD = "board"
    SLOT = "slot"
    SCANNER = "scanner"
    BUS = "bus"  # the lock bus's adapter: no board or slot


class FaultKind(enum.StrEnum):
    """Every fault the simulator can play. `value` is the optional parameter of each."""

    NO_REPLY = "no_reply"  # the board hears but never answers
    CORRUPT_REPLY = "corrupt_reply"  # one payload byte of each reply flipped: bad checksum
    DROP_BYTES = "drop_bytes"  # value: bytes lost from each reply (default 1)
    LINE_NOISE = "line_noise"  # value: garbage bytes on the line before each reply (4)
    SLOW_REPLY = "slow_reply"  # value: extra seconds before each reply (2.0)
    POWER_LOSS = "power_loss"  # on: the board is dead; off: it boots again
    LOCK_STUCK = "lock_stuck"  # the coil clicks but the latch does not let go
    DOOR_JAMMED = "door_jammed"  # the latch lets go but the door stays shut
    DOOR_LEFT_OPEN = "door_left_open"  # the door is ajar: pushing it shut does not latch it
    DOOR_FORCED = "door_forced"  # on: the door is pried open without an unlock
    IR_STUCK = "ir_stuck"  # value: 1 = always sees a parcel, 0 = never (default 1)
    SCANNER_UNPLUGGED = "scanner_unplugged"  # on: cable out (the port vanishes); off: back in
    SCANNER_GARBAGE = "scanner_garbage"  # value: garbage bytes per misread (8)
    # Field faults (issue 11): what real adapters and scanners do that the settings deny.
    ADAPTER_ECHO = "adapter_echo"  # the bus adapter sends every byte the host writes back
    SCANNER_SUFFIX = "scanner_suffix"  # value: line end really sent: 1 = CR LF (default), 2 = LF
    SCANNER_AIM_ID = "scanner_aim_id"  # every code comes with its AIM id (]Q1, ]C0)
    SCANNER_REREADS = "scanner_rereads"  # value: re-reads of a code held in view, ~1 s apart (6)


SCOPE: dict[FaultKind, Scope] = {
    FaultKind.NO_REPLY: Scope.BOARD,
    FaultKind.CORRUPT_REPLY: Scope.BOARD,
    FaultKind.DROP_BYTES: Scope.BOARD,
    FaultKind.LINE_NOISE: Scope.BOARD,
    FaultKind.SLOW_REPLY: Scope.BOARD,
    FaultKind.POWER_LOSS: Scope.BOARD,
    FaultKind.LOCK_STUCK: Scope.SLOT,
    FaultKind.DOOR_JAMMED: Scope.SLOT,
    FaultKind.DOOR_LEFT_OPEN: Scope.SLOT,
    FaultKind.DOOR_FORCED: Scope.SLOT,
    FaultKind.IR_STUCK: Scope.SLOT,
    FaultKind.SCANNER_UNPLUGGED: Scope.SCANNER,
    FaultKind.SCANNER_GARBAGE: Scope.SCANNER,
    FaultKind.ADAPTER_ECHO: Scope.BUS,
    FaultKind.SCANNER_SUFFIX: Scope.SCANNER,
    FaultKind.SCANNER_AIM_ID: Scope.SCANNER,
    FaultKind.SCANNER_REREADS: Scope.SCANNER,
}

# Longer than the 1.5 s reply timeout of a mature RS485 driver (hardware.md §2), so a slow
# reply is a timeout for it, and a late reply arriving in the next transaction.
DEFAULT_SLOW_REPLY_S = 2.0
DEFAULT_NOISE_BYTES = 4
DEFAULT_DROPPED_BYTES = 1
DEFAULT_GARBAGE_BYTES = 8
# hardware.md §3: a presentation scanner re-reads a code in view about once a second; six
# re-reads (a phone held up for six seconds) locked a site out in issue 11.
DEFAULT_REREADS = 6
REREAD_INTERVAL_S = 1.0


@dataclass
class LineFaults:
    """The faults of one board's replies, applied to each reply as it is sent."""

    no_reply: bool = False
    corrupt_reply: bool = False
    dropped_bytes: int = 0
    noise_bytes: int = 0
    slow_reply_s: float = 0.0

    def mangle(self, reply: bytes, rng: random.Random, payload: range) -> bytes:
        """What actually goes on the line for `reply`. `payload` are the indices whose
        corruption leaves the frame's shape intact, so the host sees a bad checksum."""
        if self.no_reply:
            return b""
        data = bytearray(reply)
        if self.corrupt_reply and payload:
            index = rng.choice(payload)
            data[index] ^= rng.randrange(1, 256)  # any non-zero flip changes sum and XOR
        for _ in range(min(self.dropped_bytes, len(data))):
            del data[rng.randrange(len(data))]
        noise = bytes(rng.randrange(256) for _ in range(self.noise_bytes))
        return noise + bytes(data)

    def set(self, kind: FaultKind, on: bool, value: float | None) -> None:
        if kind is FaultKind.NO_REPLY:
            self.no_reply = on
        elif kind is FaultKind.CORRUPT_REPLY:
            self.corrupt_reply = on
        elif kind is FaultKind.DROP_BYTES:
            self.dropped_bytes = _count(value, DEFAULT_DROPPED_BYTES) if on else 0
        elif kind is FaultKind.LINE_NOISE:
            self.noise_bytes = _count(value, DEFAULT_NOISE_BYTES) if on else 0
        elif kind is FaultKind.SLOW_REPLY:
            delay = DEFAULT_SLOW_REPLY_S if value is None else float(value)
            if delay < 0:
                raise ConfigError("a slow reply's delay cannot be negative")
            self.slow_reply_s = delay if on else 0.0
        else:
            raise ConfigError(f"{kind} is not a fault of a board's replies")

    def active(self) -> list[str]:
        names = []
        if self.no_reply:
            names.append(FaultKind.NO_REPLY.value)
        if self.corrupt_reply:
            names.append(FaultKind.CORRUPT_REPLY.value)
        if self.dropped_bytes:
            names.append(FaultKind.DROP_BYTES.value)
        if self.noise_bytes:
            names.append(FaultKind.LINE_NOISE.value)
        if self.slow_reply_s:
            names.append(FaultKind.SLOW_REPLY.value)
        return names


def _count(value: float | None, default: int) -> int:
    count = default if value is None else int(value)
    if count < 1:
        raise ConfigError("a byte count for a fault must be at least 1")
    return count


@dataclass(frozen=True)
class FaultEvent:
    """Switch `kind` on or off at `at` seconds after the plan starts."""

    at: float
    kind: FaultKind
    on: bool
    board: int | None = None
    slot: int | None = None
    value: float | None = None


class FaultTarget(Protocol):
    """What a plan switches faults on (a SimulatedSite)."""

    def set_fault(
        self,
        kind: FaultKind,
        on: bool,
        board: int | None = None,
        slot: int | None = None,
        value: float | None = None,
    ) -> None: ...


def random_plan(
    seed: int,
    duration_s: float,
    boards: Sequence[int],
    slots_per_board: int,
    *,
    kinds: Sequence[FaultKind] = tuple(FaultKind),
    mean_gap_s: float = 600.0,
    mean_length_s: float = 60.0,
) -> list[FaultEvent]:
    """A reproducible plan: faults start at exponential gaps, last an exponential time and
    are switched off again. The same seed always gives the same plan."""
    if duration_s <= 0 or mean_gap_s <= 0 or mean_length_s <= 0:
        raise ConfigError("a fault plan needs a positive duration, gap and length")
    if not boards or not kinds:
        raise ConfigError("a fault plan needs at least one board and one kind of fault")
    rng = random.Random(seed)  # noqa: S311 - seeded for replay, not secrecy
    events: list[FaultEvent] = []
    at = rng.expovariate(1 / mean_gap_s)
    while at < duration_s:
        kind = rng.choice(list(kinds))
        board = slot = None
        if SCOPE[kind] in (Scope.BOARD, Scope.SLOT):
            board = rng.choice(list(boards))
        if SCOPE[kind] is Scope.SLOT:
            slot = rng.randint(1, slots_per_board)
        end = min(duration_s, at + rng.expovariate(1 / mean_length_s))
        events.append(FaultEvent(at, kind, True, board, slot))
        events.append(FaultEvent(end, kind, False, board, slot))
        at += rng.expovariate(1 / mean_gap_s)
    events.sort(key=lambda event: event.at)
    return events


async def play(plan: Sequence[FaultEvent], target: FaultTarget, clock: Clock) -> None:
    """Switch each fault at its time, measured on `clock` from now."""
    start = clock.monotonic()
    for event in sorted(plan, key=lambda e: e.at):
        await clock.sleep(start + event.at - clock.monotonic())
        target.set_fault(event.kind, event.on, event.board, event.slot, event.value)
