"""The simulated day's size and shape: `SimOptions` (what `lockernet sim` is asked for) and
the constants every part of the day shares (its hours, the people's pace, the agents' timing
in real seconds)."""

from __future__ import annotations

from dataclasses import dataclass

from hw_sim.network.day_store import is_postgres
from hw_sim.people.people import Pace
from protocols.messages import SizeClass

DAY_S = 86_400.0
HOUR_S = 3_600.0
SIZES = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]
LOCKS_PER_BOARD = 16
MAX_BOARDS = 10
# People, in simulated seconds: a courier handles a parcel in ~20 s, a consumer in ~15 s.
PEOPLE_PACE = Pace(handling_s=12.0, glance_s=2.0, patience_s=120.0)
# Agent timing, in REAL seconds: converted to simulated seconds by the compression, so a
# board is polled about once a real second whatever the speed of the day.
REAL_POLL_S = 1.0
LOCKERS_PER_POLL_SECOND = 200
REAL_REPLY_TIMEOUT_S = 0.5
# Each agent's timers (lapses, doors left open) tick every quarter of a real second, less
# often past a thousand sites: each tick wakes the loop, and 2,100 agents ticking at
# simulated-second pace under heavy compression left it no time for anything else.
REAL_TIMER_S = 0.25
SITES_PER_TIMER_SECOND = 1000
REAL_REPUBLISH_S = 10.0
# The shape of the day, in simulated hours.
WAVE_HOURS = (0.0, 3.0, 6.0, 9.0)
# Courier rounds at every site, the last at 22:30: after the last home round's redirects.
ROUND_HOURS = tuple(float(h) for h in range(6, 24, 2))
REMOVAL_HOURS = (20.0, 23.0)
PICKUP_WINDOW_H = 10.0  # a compressed stand-in for the regional three days
# Real seconds a person watches the screen for an answer. Long: on a loaded machine the
# answer comes late but comes; only a scan that never reached the agent goes unanswered.
SCREEN_TIMEOUT_S = 60.0
SCREEN_GLANCE_S = 1.0  # real seconds between looks at a screen that has not answered yet
WALK_AWAY_SHARE = 0.01  # consumers who leave the door open


@dataclass(frozen=True)
class SimOptions:
    """The network's size (`lockers`, `counters`, `couriers`, `parcels`), the seed, the
    day's length in simulated seconds (`day_s`) and in real seconds (`wall_s`), how many
    sites talk to their devices over real ptys, whether the day plays faults, and central's
    shape: its store (`store`: a `postgresql://` url of a server the user runs, a SQLite
    path or `sqlite:` url; None for a SQLite file in the day's work folder), how many
    central processes share the work (`centrals`) and how many brokers the sites are spread
    over (`brokers`); and where the operator console is served while the day runs
    (`console`, "HOST:PORT"; None: not served)."""

    lockers: int = 50
    counters: int = 160
    couriers: int = 60
    parcels: int = 4000
    seed: int = 1
    day_s: float = DAY_S
    wall_s: float = 120.0  # how long the day takes in real time
    pty_sites: int = 2
    faults: bool = True
    store: str | None = None
    centrals: int = 1
    brokers: int = 1
    console: str | None = None  # "HOST:PORT": serve the operator console there during the day

    def __post_init__(self) -> None:
        if self.centrals < 1 or self.brokers < 1:
            raise ValueError("a day needs at least one central process and one broker")

    @property
    def store_kind(self) -> str:
        """ "postgresql" or "sqlite", for the summary."""
        return "postgresql" if self.store is not None and is_postgres(self.store) else "sqlite"

    @property
    def compression(self) -> float:
        """Simulated seconds per real second."""
        return self.day_s / self.wall_s

    @property
    def real_poll_s(self) -> float:
        """Real seconds between two polls of a board."""
        # One event loop polls every board of every locker: past ~200 lockers, poll each a
        # little less often (in real time) so the loop keeps up; doors still close in seconds.
        return max(REAL_POLL_S, self.lockers / LOCKERS_PER_POLL_SECOND)

    @property
    def real_timer_s(self) -> float:
        """Real seconds between two ticks of an agent's timers."""
        return max(REAL_TIMER_S, (self.lockers + self.counters) / SITES_PER_TIMER_SECOND)
