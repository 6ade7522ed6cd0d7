"""Who carries each parcel: partner and courier per dispatch wave, free of I/O.

A parcel's cost with a courier is what the operator pays and risks:

    partner's price per parcel
  + late penalty x (1 - partner's on-time rate)        the service level, priced
  + cost per km x distance(courier's depot, the stop)   the courier's location

A stop is the parcel's delivery point: a locker or counter, or for a home delivery the
delivery zone (a `home_zone_km` grid square) of the address. Parcels at one stop cost the
same with a given courier, so the wave is solved on stops, not parcels: a transportation
problem of a few thousand stops by the couriers, with each courier's remaining capacity and
each partner's remaining daily capacity as hard limits.

The wave is solved exactly, as a min-cost flow (central.capacity.dispatch_flow, OR-Tools).
Where OR-Tools cannot be imported, or fails, a regret heuristic on partners does it instead
(0.5% dearer on the benchmark day): stops whose best remaining courier is much cheaper than
the best courier of any other partner are served first, each stop from its cheapest courier
with room (courier and partner), until every stop is served or no capacity is left.
(Regret against the second-best courier, as in Vogel's method, does worse here: the second
best is usually a colleague at the next depot, so it misses that the cheap partners'
capacity is what runs out; on the benchmark day it left a 0.95% gap, this 0.5%.) Either way
the result says which ran (`DispatchResult.method`). Parcels that no courier can carry are
returned as unassigned with the reason, never dropped. Within a stop the parcels dispatched
earliest (nearest their 72-hour promise) are carried first.

A parcel at risk of missing its promise (central/parcels/promise.py) goes before the rest:
the parcels at risk at a stop form a stop of their own, served before every other stop (no
parcel at risk is left while another parcel is carried), and their lateness is priced
`at_risk_penalty_factor` times higher, so they go to the partner with the better on-time
record even where another is cheaper.
`tests/bench/assignment.py` measures both against an independent exact solve.
"""

from __future__ import annotations

import enum
import heapq
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from central.capacity import dispatch_flow
from central.capacity.geo import KM_PER_DEG_LAT, KM_PER_DEG_LON, to_km
from central.capacity.placement import Placement
from central.sites.network import Network

# What breaking the 72-hour promise costs the operator (refund, support contact), SGD.
DEFAULT_LATE_PENALTY_SGD = 20.0
# A courier's driving from the depot to a stop, shared over the parcels it brings: SGD/km.
DEFAULT_COST_PER_KM_SGD = 0.08
# Home deliveries are grouped by delivery zone (a square of this side, km) for dispatch.
DEFAULT_HOME_ZONE_KM = 1.0
# A parcel at risk of missing its promise is late with a probability far above a partner's
# average: its lateness is priced this many times the penalty.
DEFAULT_AT_RISK_PENALTY_FACTOR = 5.0
# A stop with a single courier left: its regret is this (it must be served first).
NO_ALTERNATIVE_REGRET = 1e9
# The key of the stop the parcels at risk at a stop make (never a site id's or a zone's).
URGENT_SUFFIX = "!at-risk"
# Why a parcel of the wave has no courier, whichever method assigned the wave.
NO_CAPACITY_REASON = "no partner or courier has handling capacity left"

log = logging.getLogger(__name__)


class DispatchMethod(enum.Enum):
    """How a wave is assigned: the exact optimum, or the heuristic it falls back to."""

    OPTIMAL = "min-cost flow"
    REGRET = "regret heuristic"


@dataclass(frozen=True)
class DispatchCosts:
    late_penalty_sgd: float = DEFAULT_LATE_PENALTY_SGD
    cost_per_km_sgd: float = DEFAULT_COST_PER_KM_SGD
    home_zone_km: float = DEFAULT_HOME_ZONE_KM
    at_risk_penalty_factor: float = DEFAULT_AT_RISK_PENALTY_FACTOR

    def __post_init__(self) -> None:
        for name in ("late_penalty_sgd", "cost_per_km_sgd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be 0 or more, not {value}")
        if not (math.isfinite(self.home_zone_km) and self.home_zone_km > 0):
            raise ValueError(f"home_zone_km must be positive, not {self.home_zone_km}")
        factor = self.at_risk_penalty_factor
        if not (math.isfinite(factor) and factor >= 1):
            raise ValueError(f"at_risk_penalty_factor must be 1 or more, not {factor}")


@dataclass(frozen=True)
class Stop:
    """A delivery point couriers drive to: a site, or a home-delivery zone."""

    key: str
    lat: float
    lon: float


def site_stop(site_id: str, lat: float, lon: float) -> Stop:
    return Stop(f"site:{site_id}", lat, lon)


def home_stop(lat: float, lon: float, zone_km: float = DEFAULT_HOME_ZONE_KM) -> Stop:
    """The delivery zone of a home address: its grid square, located at the square's centre."""
    x, y = to_km(lat, lon)
    cx, cy = math.floor(x / zone_km), math.floor(y / zone_km)
    return Stop(
        f"zone:{cx}:{cy}",
        round((cy + 0.5) * zone_km / KM_PER_DEG_LAT, 6),
        round((cx + 0.5) * zone_km / KM_PER_DEG_LON, 6),
    )


def stop_for(
    placement: Placement,
    dest_lat: float,
    dest_lon: float,
    network: Network,
    zone_km: float = DEFAULT_HOME_ZONE_KM,
) -> Stop:
    """Where a placed parcel is driven to: its site, or its home address's delivery zone."""
    if placement.site is None:
        return home_stop(dest_lat, dest_lon, zone_km)
    site = network.site_by_id[placement.site]
    return site_stop(site.id, site.lat, site.lon)


@dataclass(frozen=True)
class DispatchParcel:
    """A parcel of the wave: its label, its stop, when it left its origin, and whether it
    is at risk of missing its promise (or has missed it)."""

    label: str
    stop: Stop
    dispatched_at: float
    at_risk: bool = False


@dataclass
class HandlingCapacity:
    """What each partner and courier can still carry today; a wave takes from it."""

    partners: dict[str, int]
    couriers: dict[str, int]

    @classmethod
    def full_day(cls, network: Network) -> HandlingCapacity:
        return cls(
            partners={p.id: p.daily_capacity for p in network.partners},
            couriers={c.id: c.capacity for c in network.couriers},
        )

    def __post_init__(self) -> None:
        for name, value in (*self.partners.items(), *self.couriers.items()):
            if value < 0:
                raise ValueError(f"remaining capacity of {name} cannot be negative ({value})")


@dataclass(frozen=True)
class Assignment:
    parcel: str
    partner: str
    courier: str
    cost_sgd: float


@dataclass(frozen=True)
class Unassigned:
    parcel: str
    reason: str


@dataclass
class DispatchResult:
    assignments: list[Assignment] = field(default_factory=list)
    unassigned: list[Unassigned] = field(default_factory=list)
    method: DispatchMethod = DispatchMethod.OPTIMAL  # what assigned the wave

    @property
    def total_cost_sgd(self) -> float:
        return math.fsum(a.cost_sgd for a in self.assignments)


@dataclass
class DispatchInstance:
    """One wave as a transportation problem: stops with demand, couriers with capacity.

    `cost(stop_index, courier_index)` is the cost of one parcel; `courier_partner[k]` is the
    partner index of courier k. The benchmark hands this same instance to an exact solver.
    """

    stops: list[Stop]
    demand: list[int]
    courier_ids: list[str]
    courier_partner: list[int]
    courier_left: list[int]
    partner_ids: list[str]
    partner_left: list[int]
    courier_fixed: list[float]  # price + priced lateness of the courier's partner
    courier_xy: list[tuple[float, float]]
    stop_xy: list[tuple[float, float]]
    cost_per_km: float
    # Stops of parcels at risk: served first, and each courier's lateness priced at
    # `courier_urgent_extra` more there. Empty: no stop is urgent.
    stop_urgent: list[bool] = field(default_factory=list)
    courier_urgent_extra: list[float] = field(default_factory=list)

    def urgent(self, stop: int) -> bool:
        return bool(self.stop_urgent) and self.stop_urgent[stop]

    def cost(self, stop: int, courier: int) -> float:
        sx, sy = self.stop_xy[stop]
        cx, cy = self.courier_xy[courier]
        extra = self.courier_urgent_extra[courier] if self.urgent(stop) else 0.0
        return self.courier_fixed[courier] + extra + self.cost_per_km * math.hypot(sx - cx, sy - cy)

    def stop_costs(self, stop: int) -> list[float]:
        sx, sy = self.stop_xy[stop]
        per_km = self.cost_per_km
        hypot = math.hypot
        fixed = self.courier_fixed
        if self.urgent(stop):
            fixed = [f + e for f, e in zip(fixed, self.courier_urgent_extra, strict=True)]
        return [
            f + per_km * hypot(sx - cx, sy - cy)
            for f, (cx, cy) in zip(fixed, self.courier_xy, strict=True)
        ]


def build_instance(
    parcels: Iterable[DispatchParcel],
    network: Network,
    remaining: HandlingCapacity,
    costs: DispatchCosts | None = None,
) -> tuple[DispatchInstance, list[list[DispatchParcel]]]:
    """The wave's instance, and the parcels of each stop, earliest dispatched first. The
    parcels at risk at a stop are a stop of their own (same place, urgent)."""
    costs = costs or DispatchCosts()
    by_stop: dict[str, list[DispatchParcel]] = {}
    stops: dict[str, Stop] = {}
    seen: set[str] = set()
    for parcel in parcels:
        if parcel.label in seen:
            raise ValueError(f"parcel {parcel.label} appears twice in the wave")
        seen.add(parcel.label)
        stop = parcel.stop
        if parcel.at_risk:
            stop = Stop(stop.key + URGENT_SUFFIX, stop.lat, stop.lon)
        stops.setdefault(stop.key, stop)
        by_stop.setdefault(stop.key, []).append(parcel)
    keys = sorted(stops)
    groups = [sorted(by_stop[k], key=lambda p: (p.dispatched_at, p.label)) for k in keys]
    partner_ids = [p.id for p in network.partners]
    partner_index = {pid: i for i, pid in enumerate(partner_ids)}
    partners = network.partner_by_id
    couriers = network.couriers
    instance = DispatchInstance(
        stops=[stops[k] for k in keys],
        demand=[len(g) for g in groups],
        courier_ids=[c.id for c in couriers],
        courier_partner=[partner_index[c.partner] for c in couriers],
        courier_left=[remaining.couriers.get(c.id, 0) for c in couriers],
        partner_ids=partner_ids,
        partner_left=[remaining.partners.get(pid, 0) for pid in partner_ids],
        courier_fixed=[
            partners[c.partner].cost_per_parcel
            + costs.late_penalty_sgd * (1.0 - partners[c.partner].on_time_rate)
            for c in couriers
        ],
        courier_xy=[to_km(c.depot_lat, c.depot_lon) for c in couriers],
        stop_xy=[to_km(stops[k].lat, stops[k].lon) for k in keys],
        cost_per_km=costs.cost_per_km_sgd,
    )
    if any(k.endswith(URGENT_SUFFIX) for k in keys):
        instance.stop_urgent = [k.endswith(URGENT_SUFFIX) for k in keys]
        instance.courier_urgent_extra = [
            (costs.at_risk_penalty_factor - 1.0)
            * costs.late_penalty_sgd
            * (1.0 - partners[c.partner].on_time_rate)
            for c in couriers
        ]
    return instance, groups


class _StopCandidates:
    """A stop's couriers, cheapest first; exhausted couriers are skipped for good."""

    __slots__ = ("costs", "order", "position")

    def __init__(self, instance: DispatchInstance, stop: int) -> None:
        self.costs = instance.stop_costs(stop)
        self.order = sorted(range(len(self.costs)), key=self.costs.__getitem__)
        self.position = 0

    def best_and_alternative(self, instance: DispatchInstance) -> tuple[int | None, int | None]:
        """The cheapest courier that can still take a parcel, and the cheapest of another
        partner that can: the stop's real alternative if its best partner runs out."""
        best: int | None = None
        index = self.position
        order = self.order
        partner_of = instance.courier_partner
        courier_left = instance.courier_left
        partner_left = instance.partner_left
        while index < len(order):
            courier = order[index]
            if courier_left[courier] > 0 and partner_left[partner_of[courier]] > 0:
                if best is None:
                    best = courier
                elif partner_of[courier] != partner_of[best]:
                    return best, courier
            elif best is None:
                self.position = index + 1  # capacity only shrinks: never look again
            index += 1
        return best, None


def solve_regret(instance: DispatchInstance) -> dict[tuple[int, int], int]:
    """Parcels per (stop, courier) by partner regret. Never exceeds a capacity.

    The regret of a stop is what it loses if it cannot have its best partner: the cost of
    the cheapest courier of another partner minus that of its best courier. Partners'
    capacities are the scarce thing (the cheap ones cannot carry the whole day), so the
    stops that would lose most are served first, after every urgent stop (parcels at
    risk of missing their promise), which go before all others. Takes what it uses from
    `instance.courier_left` and `instance.partner_left`.
    """
    flows: dict[tuple[int, int], int] = {}
    remaining = list(instance.demand)
    candidates = [_StopCandidates(instance, s) for s in range(len(instance.stops))]
    # (0 for an urgent stop else 1, -regret, stop): urgent stops first, then by regret.
    heap: list[tuple[int, float, int]] = []
    for stop, candidate in enumerate(candidates):
        if remaining[stop] > 0:
            heap.append((_rank(instance, stop), -_regret(instance, candidate), stop))
    heapq.heapify(heap)
    while heap:
        rank, _, stop = heapq.heappop(heap)
        candidate = candidates[stop]
        best, _ = candidate.best_and_alternative(instance)
        if best is None:
            continue  # no courier can take anything for this stop: left unassigned
        regret = _regret(instance, candidate)
        if heap and (rank, -regret) > heap[0][:2]:
            heapq.heappush(heap, (rank, -regret, stop))  # stale priority: wait for its turn
            continue
        partner = instance.courier_partner[best]
        amount = min(remaining[stop], instance.courier_left[best], instance.partner_left[partner])
        flows[(stop, best)] = flows.get((stop, best), 0) + amount
        remaining[stop] -= amount
        instance.courier_left[best] -= amount
        instance.partner_left[partner] -= amount
        if remaining[stop] > 0:
            heapq.heappush(heap, (rank, -_regret(instance, candidate), stop))
    return flows


def _rank(instance: DispatchInstance, stop: int) -> int:
    return 0 if instance.urgent(stop) else 1


def _regret(instance: DispatchInstance, candidate: _StopCandidates) -> float:
    best, alternative = candidate.best_and_alternative(instance)
    if best is None:
        return 0.0
    if alternative is None:
        return NO_ALTERNATIVE_REGRET
    return candidate.costs[alternative] - candidate.costs[best]


def solve(
    instance: DispatchInstance, method: DispatchMethod = DispatchMethod.OPTIMAL
) -> tuple[dict[tuple[int, int], int], DispatchMethod]:
    """Parcels per (stop, courier) and the method that found them; takes from the
    instance's remaining capacities. OPTIMAL falls back to REGRET when it must."""
    if method is DispatchMethod.OPTIMAL:
        try:
            return dispatch_flow.solve_min_cost_flow(instance), DispatchMethod.OPTIMAL
        except dispatch_flow.SolverUnavailable as error:
            # A wave must still be assigned; a little dearer beats parcels left waiting.
            log.warning("dispatch: %s; assigning this wave with the regret heuristic", error)
    return solve_regret(instance), DispatchMethod.REGRET


def flows_cost(instance: DispatchInstance, flows: dict[tuple[int, int], int]) -> float:
    """Total cost of a solution given as parcels per (stop, courier)."""
    return math.fsum(amount * instance.cost(s, k) for (s, k), amount in flows.items())


def dispatch_wave(
    parcels: Sequence[DispatchParcel],
    network: Network,
    remaining: HandlingCapacity,
    costs: DispatchCosts | None = None,
    method: DispatchMethod = DispatchMethod.OPTIMAL,
) -> DispatchResult:
    """Assign a wave's parcels to partners and couriers, taking from `remaining`.

    `remaining` is updated in place by what the wave used, so the next wave of the day
    sees only what is left. Parcels that cannot be carried come back in `unassigned`.
    OPTIMAL falls back to REGRET (logged, and said in `result.method`) when the exact
    solver cannot be imported or fails. Raises ValueError for a parcel twice in the wave,
    changing nothing.
    """
    instance, groups = build_instance(parcels, network, remaining, costs)
    flows, used = solve(instance, method)
    result = DispatchResult(method=used)
    by_stop: dict[int, list[tuple[int, int]]] = {}
    for (stop, courier), amount in flows.items():
        by_stop.setdefault(stop, []).append((courier, amount))
    for stop, group in enumerate(groups):
        position = 0
        # Cheapest couriers first, so the earliest-dispatched parcels get them.
        served = sorted(by_stop.get(stop, []), key=lambda ca: (instance.cost(stop, ca[0]), ca[0]))
        for courier, amount in served:
            partner = instance.partner_ids[instance.courier_partner[courier]]
            courier_id = instance.courier_ids[courier]
            unit = instance.cost(stop, courier)
            for parcel in group[position : position + amount]:
                result.assignments.append(Assignment(parcel.label, partner, courier_id, unit))
            position += amount
        for parcel in group[position:]:
            result.unassigned.append(Unassigned(parcel.label, NO_CAPACITY_REASON))
    for k, courier_id in enumerate(instance.courier_ids):
        if courier_id in remaining.couriers:
            remaining.couriers[courier_id] = instance.courier_left[k]
    for p, partner_id in enumerate(instance.partner_ids):
        if partner_id in remaining.partners:
            remaining.partners[partner_id] = instance.partner_left[p]
    return result
