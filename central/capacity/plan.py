"""Growth ahead: a day's parcels grown year by year, placed on the network, and what it lacks.

`plan_growth` places each year's day (`parcels` x (1 + growth)^year parcels, year 0 being
today) with the real placement rule (`Placer` over an `InMemoryCapacity`, everything free at
the start of the day, as the placement benchmark does), and reports per year: the parcels
that fell back to home delivery (HOME_FALLBACK; parcels whose consumer chose home are not a
fallback), the lockers whose every compartment and the counters whose whole shelf the day
used up, the towns they are in, and how many compartments per size class would bring the
fallback to at most the target share of the day's parcels.

The compartments come from a greedy, said as it is: every parcel that fell back is charged
to the locker it would have used (its chosen locker, else the nearest locker within the
policy's walking distance) and to a compartment of its own size; the (locker, size) pairs
with the most parcels get that many compartments until the excess over the target is
covered; the day is placed again, and again, until it is under the target or no parcel
that fell back has a locker within reach (new sites are needed there, not compartments).
Compartments added in a year stay for the years after.

The day's parcels have the mix of `lockernet network manifest` (its size and mode shares and
address spread, imported from central.parcels.manifest); only what placement reads is kept,
so a 500,000-parcel day fits in memory.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from central.capacity.geo import distance_km
from central.capacity.placement import (
    InMemoryCapacity,
    PlacementPolicy,
    PlacementRule,
    Placer,
    SpatialIndex,
)
from central.parcels.manifest import (
    ADDRESS_SPREAD_KM,
    CHOSEN_SITE_NEARBY,
    MODE_MIX,
    PARCEL_SIZE_MIX,
)
from central.sites.network import (
    SIZE_ORDER,
    SIZE_RANK,
    TOWNS,
    Network,
    NetworkSite,
    random_point_near,
)
from protocols.messages import SiteKind, SizeClass

# Rounds of the greedy in one year before it says the target was not reached.
MAX_GREEDY_ROUNDS = 8
# Each round aims this much past the excess it expects to clear: a round is a whole day
# placed again, and the last few parcels over the target would otherwise take several.
MARGIN = 1.02
# The least yield (parcels placed per compartment added) the greedy assumes in a round.
MIN_YIELD = 0.25
# Parcels placed between two rebuilds of the placer on the sites with room left.
REFRESH_EVERY = 1000
# Towns listed per year, worst (most parcels fallen back) first.
WORST_TOWNS = 5


@dataclass(frozen=True, slots=True)
class PlanParcel:
    """What placement reads of a parcel, and the town of its address."""

    label: str
    size: SizeClass
    dest_lat: float
    dest_lon: float
    preferred_mode: str | None
    preferred_site: str | None
    town: str


@dataclass(frozen=True)
class TownShortfall:
    """One town's share of a year's shortfall."""

    town: str
    fallback: int  # parcels addressed in the town that fell back to home delivery
    lockers_full: int  # lockers in the town with every compartment taken
    counters_full: int  # counters in the town with a full shelf


@dataclass(frozen=True)
class YearPlan:
    """One year of the plan. Shares are of the day's parcels (0..1)."""

    year: int
    parcels: int
    fallback: int
    fallback_share: float
    lockers_full: int
    counters_full: int
    towns_short: int  # towns with any parcel fallen back
    worst_towns: list[TownShortfall]
    added: dict[SizeClass, int]  # compartments added this year
    added_total: dict[SizeClass, int]  # compartments added up to this year
    fallback_with_added: int
    share_with_added: float
    target_reached: bool
    out_of_reach: int  # parcels fallen back with no locker within walking distance
    rounds: int  # placements the greedy ran this year

    def as_dict(self) -> dict[str, object]:
        return {
            "year": self.year,
            "parcels": self.parcels,
            "fallback": self.fallback,
            "fallback_share": round(self.fallback_share, 6),
            "lockers_full": self.lockers_full,
            "counters_full": self.counters_full,
            "towns_short": self.towns_short,
            "worst_towns": [vars(town) for town in self.worst_towns],
            "added": {size.value: n for size, n in self.added.items()},
            "added_total": {size.value: n for size, n in self.added_total.items()},
            "fallback_with_added": self.fallback_with_added,
            "share_with_added": round(self.share_with_added, 6),
            "target_reached": self.target_reached,
            "out_of_reach": self.out_of_reach,
            "rounds": self.rounds,
        }


@dataclass(frozen=True)
class PlanOptions:
    """growth: a year's growth as a fraction (0.2 = 20%); years: 1 or more; parcels: today's
    day; target_fallback: the fallback share to stay at or under (0..1)."""

    growth: float = 0.2
    years: int = 5
    parcels: int = 200_000
    target_fallback: float = 0.02
    seed: int = 1
    policy: PlacementPolicy = field(default_factory=PlacementPolicy)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.growth) and 0 <= self.growth <= 1):
            raise ValueError(f"growth must be between 0 and 1 (0.2 = 20%), not {self.growth}")
        if not 1 <= self.years <= 30:
            raise ValueError(f"years must be between 1 and 30, not {self.years}")
        if self.parcels < 1:
            raise ValueError(f"parcels must be 1 or more, not {self.parcels}")
        if not (math.isfinite(self.target_fallback) and 0 <= self.target_fallback <= 1):
            raise ValueError(
                f"target fallback must be a share between 0 and 1, not {self.target_fallback}"
            )

    def volume(self, year: int) -> int:
        """The day's parcels in `year` (0 = today)."""
        return round(self.parcels * (1 + self.growth) ** year)


def town_of(site: NetworkSite) -> str:
    """The planning town of a site: by its postal sector, else the nearest town centre."""
    return _town_by_sector(site.postal_code, site.lat, site.lon)


def _town_by_sector(postal_code: str, lat: float, lon: float) -> str:
    sector = postal_code[:2]
    if sector.isdigit():
        for town in TOWNS:
            if int(sector) in town.sectors:
                return town.name
    return min(TOWNS, key=lambda town: distance_km(lat, lon, town.lat, town.lon)).name


def make_parcels(network: Network, count: int, seed: int) -> list[PlanParcel]:
    """`count` parcels around the network's sites with the manifest's mix, repeatably.

    The first n of a longer list are the list for n: a grown year keeps today's parcels and
    adds more. A consumer who chooses a site picks among the CHOSEN_SITE_NEARBY sites nearest
    the neighbourhood's site (the manifest picks around the door; this is read once per
    site, which makes a 500,000-parcel day in seconds rather than minutes).
    """
    if not network.sites:
        raise ValueError("the network has no sites to deliver around")
    rng = random.Random(seed)  # noqa: S311 - a seeded, repeatable model, not a secret
    indexes = {
        "locker": SpatialIndex(network.lockers()),
        "counter": SpatialIndex(network.counters()),
    }
    nearby: dict[tuple[str, str], list[str]] = {}
    towns = {site.id: town_of(site) for site in network.sites}
    sizes, size_weights = list(PARCEL_SIZE_MIX), list(PARCEL_SIZE_MIX.values())
    modes, mode_weights = list(MODE_MIX), list(MODE_MIX.values())
    parcels: list[PlanParcel] = []
    for number in range(count):
        anchor = rng.choice(network.sites)
        lat, lon = random_point_near(rng, anchor.lat, anchor.lon, ADDRESS_SPREAD_KM)
        size = rng.choices(sizes, size_weights)[0]
        mode = rng.choices(modes, mode_weights)[0]
        chosen = None
        if mode in ("locker", "counter"):
            key = (anchor.id, mode)
            if key not in nearby:
                near = indexes[mode].nearest(anchor.lat, anchor.lon, CHOSEN_SITE_NEARBY)
                nearby[key] = [site.id for _, site in near]
            chosen = rng.choice(nearby[key]) if nearby[key] else None
        parcels.append(PlanParcel(f"P{number:07d}", size, lat, lon, mode, chosen, towns[anchor.id]))
    return parcels


@dataclass
class DayResult:
    """One placed day: the parcels that fell back and the capacity left at its end."""

    fallback: list[PlanParcel]
    capacity: InMemoryCapacity


def place_day(
    network: Network, parcels: Iterable[PlanParcel], policy: PlacementPolicy
) -> DayResult:
    """Place a day's parcels in order on an empty network with the real placement rule.

    Every REFRESH_EVERY parcels the placer is rebuilt on the sites that still have room: a
    site with nothing free turns every parcel away, so leaving it out changes no placement,
    but a parcel falling back no longer walks every full site within reach (most of a
    grown day's time otherwise).
    """
    capacity = InMemoryCapacity.empty_network(network)
    placer = Placer(network, policy)
    open_sites = len(network.sites)
    fallback: list[PlanParcel] = []
    for number, parcel in enumerate(parcels, start=1):
        if placer.place(parcel, capacity).rule is PlacementRule.HOME_FALLBACK:
            fallback.append(parcel)
        if number % REFRESH_EVERY == 0:
            with_room = [site for site in network.sites if _has_room(site, capacity)]
            if len(with_room) < open_sites:
                open_sites = len(with_room)
                placer = Placer(Network(sites=with_room, partners=[], couriers=[]), policy)
    return DayResult(fallback, capacity)


def _has_room(site: NetworkSite, capacity: InMemoryCapacity) -> bool:
    if site.kind is SiteKind.LOCKER:
        return any(capacity.free_compartments(site.id, size) for size in site.compartments)
    return capacity.counter_room(site.id) > 0


def with_compartments(network: Network, added: dict[tuple[str, SizeClass], int]) -> Network:
    """The network with `added` compartments per (locker id, size class)."""
    if not added:
        return network
    extra: dict[str, dict[SizeClass, int]] = {}
    for (site_id, size), n in added.items():
        extra.setdefault(site_id, {})[size] = n
    sites = []
    for site in network.sites:
        if site.id in extra:
            compartments = dict(site.compartments)
            for size, n in extra[site.id].items():
                compartments[size] = compartments.get(size, 0) + n
            sites.append(site.model_copy(update={"compartments": compartments}))
        else:
            sites.append(site)
    return Network(sites=sites, partners=network.partners, couriers=network.couriers)


Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Outcome:
    """A year with compartments added: its last day and what the greedy did."""

    day: DayResult
    added: dict[tuple[str, SizeClass], int]
    before: dict[tuple[str, SizeClass], int]
    rounds: int
    reached: bool
    out_of_reach: int


def plan_growth(
    network: Network,
    options: PlanOptions,
    progress: Progress | None = None,
    parcels: list[PlanParcel] | None = None,
) -> list[YearPlan]:
    """Year 0 (today) to `options.years`, each placed without and with added compartments.

    `parcels`: the largest year's day in placement order (default: `make_parcels`); year y
    places its first `options.volume(y)`. ValueError if it holds fewer than the last year's.
    `progress` is told a line per year and per round of the greedy.
    """
    say = progress or (lambda _: None)
    biggest = options.volume(options.years)
    if parcels is None:
        parcels_all = make_parcels(network, biggest, options.seed)
    elif len(parcels) < biggest:
        raise ValueError(f"year {options.years} needs {biggest} parcels, {len(parcels)} given")
    else:
        parcels_all = parcels
    lockers = SpatialIndex(network.lockers())
    added: dict[tuple[str, SizeClass], int] = {}
    plans: list[YearPlan] = []
    for year in range(options.years + 1):
        day_parcels = parcels_all[: options.volume(year)]
        say(f"year {year}: placing {len(day_parcels):,} parcels")
        base = place_day(network, day_parcels, options.policy)
        before = dict(added)
        allowed = math.floor(options.target_fallback * len(day_parcels))
        if added or len(base.fallback) > allowed:
            day, rounds, reached, out_of_reach = _extend(
                network, day_parcels, options.policy, lockers, added, allowed, say
            )
        else:
            day, rounds, reached, out_of_reach = base, 0, True, 0
        outcome = _Outcome(day, dict(added), before, rounds, reached, out_of_reach)
        plans.append(_year_plan(network, year, day_parcels, base, outcome))
    return plans


def _extend(  # noqa: PLR0917 - one private step of plan_growth, called once
    network: Network,
    parcels: list[PlanParcel],
    policy: PlacementPolicy,
    lockers: SpatialIndex,
    added: dict[tuple[str, SizeClass], int],
    allowed: int,
    say: Progress,
) -> tuple[DayResult, int, bool, int]:
    """The greedy: grows `added` in place; (last day, rounds, reached, out of reach)."""
    rounds = 0
    # Parcels off the fallback per compartment added, as the last round found it: some new
    # compartments go to parcels placed earlier in the day (a small parcel taking a bigger
    # compartment), so a round aims at excess / yield, not past the need on a guess.
    yield_, last_fallback, last_added = 1.0, 0, 0
    while True:
        day = place_day(with_compartments(network, added), parcels, policy)
        rounds += 1
        if last_added:
            saved = (last_fallback - len(day.fallback)) / last_added
            yield_ = min(1.0, max(MIN_YIELD, saved))
        wanted: Counter[tuple[str, SizeClass]] = Counter()
        out_of_reach = 0
        for parcel in day.fallback:
            site = _locker_for(network, lockers, parcel, policy)
            if site is None:
                out_of_reach += 1
            else:
                wanted[(site, parcel.size)] += 1
        excess = len(day.fallback) - allowed
        if excess <= 0:
            return day, rounds, True, out_of_reach
        if not wanted or rounds >= MAX_GREEDY_ROUNDS:
            return day, rounds, False, out_of_reach
        covered = 0
        for key, n in sorted(
            wanted.items(), key=lambda kv: (-kv[1], kv[0][0], SIZE_RANK[kv[0][1]])
        ):
            added[key] = added.get(key, 0) + n
            covered += n
            if covered >= MARGIN * excess / yield_:
                break
        last_fallback, last_added = len(day.fallback), covered
        say(f"  {len(day.fallback):,} fell back ({allowed:,} allowed): adding {covered:,}")


def _locker_for(
    network: Network, lockers: SpatialIndex, parcel: PlanParcel, policy: PlacementPolicy
) -> str | None:
    """The locker a parcel that fell back would have used: chosen, else the nearest in reach."""
    chosen = network.site_by_id.get(parcel.preferred_site or "")
    if chosen is not None and chosen.kind is SiteKind.LOCKER:
        return chosen.id
    for _, site in lockers.by_distance(
        parcel.dest_lat, parcel.dest_lon, policy.max_locker_distance_km
    ):
        return site.id
    return None


def _year_plan(
    network: Network,
    year: int,
    parcels: list[PlanParcel],
    base: DayResult,
    outcome: _Outcome,
) -> YearPlan:
    full_lockers: Counter[str] = Counter()
    full_counters: Counter[str] = Counter()
    for site in network.sites:
        if site.kind is SiteKind.LOCKER:
            left = sum(base.capacity.free_compartments(site.id, s) for s in site.compartments)
            if left == 0:
                full_lockers[town_of(site)] += 1
        elif base.capacity.counter_room(site.id) == 0:
            full_counters[town_of(site)] += 1
    by_town = Counter(parcel.town for parcel in base.fallback)
    worst = sorted(by_town.items(), key=lambda kv: (-kv[1], kv[0]))[:WORST_TOWNS]
    total = len(parcels)
    return YearPlan(
        year=year,
        parcels=total,
        fallback=len(base.fallback),
        fallback_share=len(base.fallback) / total,
        lockers_full=sum(full_lockers.values()),
        counters_full=sum(full_counters.values()),
        towns_short=len(by_town),
        worst_towns=[
            TownShortfall(town, n, full_lockers[town], full_counters[town]) for town, n in worst
        ],
        added=_per_size(outcome.added, outcome.before),
        added_total=_per_size(outcome.added, {}),
        fallback_with_added=len(outcome.day.fallback),
        share_with_added=len(outcome.day.fallback) / total,
        target_reached=outcome.reached,
        out_of_reach=outcome.out_of_reach,
        rounds=outcome.rounds,
    )


def _per_size(
    now: dict[tuple[str, SizeClass], int], before: dict[tuple[str, SizeClass], int]
) -> dict[SizeClass, int]:
    totals = dict.fromkeys(SIZE_ORDER, 0)
    for (site, size), n in now.items():
        totals[size] += n - before.get((site, size), 0)
    return totals
