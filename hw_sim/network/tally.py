"""What the world saw happen through the day, for the verdict and the report's charts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    """What the world saw happen, for the verdict and the report."""

    deposited: set[str] = field(default_factory=set)
    picked_up: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    taken_twice: int = 0
    gave_up: int = 0  # people who left without an answer (most at an unplugged scanner)
    unanswered: list[str] = field(default_factory=list)  # ...of those, at a working scanner
    doors_left_open: int = 0
    codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # label->(site,text,at)
    deposit_to_pickup_h: list[float] = field(default_factory=list)
    occupancy: list[tuple[float, int, int]] = field(default_factory=list)  # (hour, used, total)
    events_per_s: list[tuple[float, float]] = field(default_factory=list)  # (hour, rate)
    faults: list[str] = field(default_factory=list)
    deposited_at: dict[str, float] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)  # invariant breaks the people saw
    placed: dict[str, str] = field(default_factory=dict)  # label -> where a courier put it
    returns: dict[str, str] = field(default_factory=dict)  # return label -> parcel sent back
    returns_dropped: set[str] = field(default_factory=set)  # ...that went into a locker
