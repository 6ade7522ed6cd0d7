"""The exact optimum of a dispatch wave: a min-cost flow solved by OR-Tools.

A wave (central.capacity.dispatch.DispatchInstance) is a network. One unit of flow is one
parcel:

    stop --(one parcel's cost with that courier; up to the stop's demand)--> courier
    courier --(its remaining capacity)--> partner --(its remaining daily capacity)--> sink
    stop --(the price of leaving a parcel behind)--> sink

Every stop may use every courier, so the problem is a transportation problem with a second,
laminar layer of capacities (a partner's couriers share its daily capacity). A min-cost flow
with integer capacities has an integral optimum, so no rounding of the answer is needed;
costs are integers too (thousandths of a dollar), so the optimum is exact for those costs.

Leaving a parcel behind is priced so that the flow keeps today's rules (the regret heuristic
in central.capacity.dispatch) with no extra pass:

- a parcel is left only when no courier with room has a partner with room: leaving one costs
  more than the dearest parcel-courier pair (`span + 1`), so serving it is always cheaper;
- a parcel at risk of missing its promise is left only when every parcel left is at risk:
  leaving one costs `span + 1` more than leaving any other parcel, and as every courier can
  reach every stop, handing a normal parcel's place to it always lowers the total.

Not every pair is handed to the solver at first: each stop is offered its few cheapest
couriers of each partner, the flow over those is solved, and then proven optimal over all
the pairs by linear programming duality (node potentials from the solved flow give every
pair left out a reduced cost of 0 or more), or the pairs that could improve it are offered
too and it is solved again. The answer is the optimum over every pair either way; on the
benchmark day the first round is already optimal and the solve takes a fifth of the time.

Parcels at risk are also priced `at_risk_penalty_factor` times for lateness in their costs
(the instance's `courier_urgent_extra`), so they go to the more punctual partner where that
is worth it. Which parcels of a stop ride with which courier (earliest dispatched with the
cheapest courier, the 72-hour order) is decided by the caller, as for the heuristic.

Why OR-Tools and not SciPy/HiGHS: measured on the benchmark's 200,000-parcel day
(tests/bench/assignment.py, seed 7: 2,634 stops x 600 couriers, 1.58 million parcel-courier
arcs) on the shared 2-core machine, OR-Tools' SimpleMinCostFlow, which solves flows and
nothing else, built and solved the wave with every arc in 1.25 s (0.22 to 0.3 s with the few
offered pairs and the proof above). HiGHS through scipy.optimize.linprog on the same problem
as an LP (4.7 million non-zeros; its vertex optimum is integral, the matrix being a network
matrix) took 97 s with its interior point and crossover, 138 s with its default and its dual
simplex, for the same optimum (to the thousandth of a dollar the costs are rounded to): 80
to 110 times slower. Offered the same few pairs per stop (52,680), HiGHS took 2.5 to 6.7 s,
OR-Tools 0.1 s. Installed, OR-Tools brings 168 MB (ortools 80 MB, pandas 84 MB which it
requires, protobuf, absl) beside the numpy that matplotlib already brings; SciPy 143 MB:
size does not decide it. OR-Tools was already the tests' exact solver.

OR-Tools is imported when a wave is solved, not when this module is: without it the caller
falls back to the regret heuristic (SolverUnavailable).
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from central.capacity.dispatch import DispatchInstance

# Costs go to the integer solver in thousandths of a dollar, so its optimum is exact for the
# costs rounded to a tenth of a cent.
COST_SCALE = 1000
# The dearest scaled cost the solver is given (a dearer one is a misconfiguration and goes to
# the heuristic): OR-Tools multiplies each arc's cost by the node count (some 3,300, 2**12)
# while it solves, and a day's total (2**18 parcels, each left behind at twice the dearest
# cost) must fit in int64: 2**41 x 2**12 and 2**41 x 2**18 both do.
MAX_SCALED_COST = 2**40
# Pairs first offered to the solver: each stop's cheapest couriers of each partner. On the
# benchmark day 5 are optimal in the first round (1 to 3 need two more); any number gives
# the same optimum, fewer rounds or fewer arcs only change the time.
OFFERED_PER_PARTNER = 5
# Rounds of adding arcs before offering every arc at once (which needs no proof).
MAX_ROUNDS = 8
SOLVER_MODULE = "ortools.graph.python.min_cost_flow"
SOLVER_NAME = "OR-Tools SimpleMinCostFlow"


class SolverUnavailable(Exception):
    """The exact solver cannot be used: not installed, or it failed on this instance."""


def solve_min_cost_flow(instance: DispatchInstance) -> dict[tuple[int, int], int]:
    """The optimal parcels per (stop index, courier index) of `instance`.

    Takes what it uses from `instance.courier_left` and `instance.partner_left`, as
    central.capacity.dispatch.solve_regret does; the parcels not in the flows are left
    unassigned. Raises SolverUnavailable (and changes nothing) when OR-Tools cannot be
    imported, when a cost is too large for exact integers, or when the solver fails.
    """
    try:
        np = importlib.import_module("numpy")
        min_cost_flow = importlib.import_module(SOLVER_MODULE)
    except ImportError as error:
        raise SolverUnavailable(f"{SOLVER_MODULE} cannot be imported ({error})") from error
    partner_of = instance.courier_partner
    usable = [
        k
        for k, left in enumerate(instance.courier_left)
        if left > 0 and instance.partner_left[partner_of[k]] > 0
    ]
    if not usable or not any(instance.demand):
        return {}
    scaled = _scaled_costs(np, instance, usable)
    flows = _solve_proven(np, min_cost_flow, instance, usable, scaled)
    for (_, courier), amount in flows.items():
        instance.courier_left[courier] -= amount
        instance.partner_left[partner_of[courier]] -= amount
    return flows


def _scaled_costs(np: Any, instance: DispatchInstance, usable: list[int]) -> Any:
    """Cost of one parcel per (stop, usable courier), int64 thousandths: shape (stops, usable).

    The same sum as DispatchInstance.cost, vectorised (some 2,600 stops x 600 couriers a day).
    """
    stop_xy = np.asarray(instance.stop_xy, dtype=np.float64)
    courier_xy = np.asarray(instance.courier_xy, dtype=np.float64)[usable]
    fixed = np.asarray(instance.courier_fixed, dtype=np.float64)[usable]
    distance = np.hypot(
        stop_xy[:, None, 0] - courier_xy[None, :, 0], stop_xy[:, None, 1] - courier_xy[None, :, 1]
    )
    unit = fixed[None, :] + instance.cost_per_km * distance
    if instance.stop_urgent and any(instance.stop_urgent):
        extra = np.asarray(instance.courier_urgent_extra, dtype=np.float64)[usable]
        urgent = np.asarray(instance.stop_urgent, dtype=bool)
        unit[urgent] += extra[None, :]
    scaled = unit * COST_SCALE
    dearest = float(np.max(np.abs(scaled)))
    if not math.isfinite(dearest) or dearest > MAX_SCALED_COST:
        raise SolverUnavailable(
            f"a parcel's cost ({dearest / COST_SCALE:.3g} SGD) is too large for the exact solver"
        )
    return np.rint(scaled).astype(np.int64)


def _solve_proven(
    np: Any, min_cost_flow: Any, instance: DispatchInstance, usable: list[int], scaled: Any
) -> dict[tuple[int, int], int]:
    """The optimum over every pair, found on a few offered pairs per stop and proven.

    The proof is linear programming duality: node potentials (shortest-path distances in
    the solved flow's residual network) give every arc in it a reduced cost of 0 or more;
    if every pair not offered has one too, no change of the flow over all pairs can lower
    the cost. A pair with a negative reduced cost could, so it is offered in the next round.
    """
    stops, couriers = scaled.shape
    partner_of = np.asarray([instance.courier_partner[k] for k in usable], dtype=np.int64)
    offered = np.zeros(scaled.shape, dtype=bool)
    per_partner = OFFERED_PER_PARTNER
    rows = np.arange(stops)[:, None]
    for partner in np.unique(partner_of):
        columns = np.nonzero(partner_of == partner)[0]
        if len(columns) > per_partner:
            cheapest = np.argpartition(scaled[:, columns], per_partner - 1, axis=1)
            offered[rows, columns[cheapest[:, :per_partner]]] = True
        else:
            offered[:, columns] = True
    for _ in range(MAX_ROUNDS):
        network = _FlowNetwork(np, instance, usable, scaled, offered)
        flow = network.solve(min_cost_flow)
        potential = network.potentials(flow)
        reduced = scaled + potential[:stops, None] - potential[None, stops : stops + couriers]
        better = (reduced < 0) & ~offered
        if not better.any():
            return network.pairs(flow)
        offered |= better
    network = _FlowNetwork(np, instance, usable, scaled, np.ones(scaled.shape, dtype=bool))
    return network.pairs(network.solve(min_cost_flow))


class _FlowNetwork:
    """The wave's flow network over the offered (stop, courier) pairs, as arc arrays.

    Nodes: stops, then usable couriers, then partners, then the sink. Arcs: the offered
    pairs, each courier to its partner, each partner to the sink, each stop to the sink
    (a parcel left behind).
    """

    def __init__(
        self, np: Any, instance: DispatchInstance, usable: list[int], scaled: Any, offered: Any
    ) -> None:
        self.np = np
        self.usable = usable
        stops, couriers, partners = scaled.shape[0], len(usable), len(instance.partner_ids)
        courier_base, partner_base = stops, stops + couriers
        self.sink = partner_base + partners
        demand = np.asarray(instance.demand, dtype=np.int64)
        self.demand = demand
        self.pair_stop, self.pair_courier = np.nonzero(offered)
        # Leaving a parcel behind: dearer than any pair, and a parcel at risk dearer still
        # by more than any pair's cost difference (see the module docstring).
        span = int(scaled.max()) - min(int(scaled.min()), 0)
        left_behind = np.full(stops, span + 1, dtype=np.int64)
        if instance.stop_urgent:
            left_behind[np.asarray(instance.stop_urgent, dtype=bool)] = 2 * (span + 1)
        arange = np.arange
        self.tail = np.concatenate(
            [self.pair_stop, courier_base + arange(couriers), partner_base + arange(partners),
             arange(stops)]
        )  # fmt: skip
        self.head = np.concatenate(
            [courier_base + self.pair_courier,
             partner_base + np.asarray([instance.courier_partner[k] for k in usable]),
             np.full(partners, self.sink), np.full(stops, self.sink)]
        )  # fmt: skip
        self.capacity = np.concatenate(
            [demand[self.pair_stop], np.asarray([instance.courier_left[k] for k in usable]),
             np.asarray(instance.partner_left), demand]
        ).astype(np.int64)  # fmt: skip
        self.cost = np.concatenate(
            [scaled[self.pair_stop, self.pair_courier], np.zeros(couriers + partners),
             left_behind]
        ).astype(np.int64)  # fmt: skip
        self.tail = self.tail.astype(np.int64)
        self.head = self.head.astype(np.int64)

    def solve(self, min_cost_flow: Any) -> Any:
        """The optimal flow on every arc, in the order of the arc arrays."""
        np = self.np
        solver = min_cost_flow.SimpleMinCostFlow()
        arcs = solver.add_arcs_with_capacity_and_unit_cost(
            self.tail, self.head, self.capacity, self.cost
        )
        supplies = np.zeros(self.sink + 1, dtype=np.int64)
        supplies[: len(self.demand)] = self.demand
        supplies[self.sink] = -int(self.demand.sum())
        solver.set_nodes_supplies(np.arange(self.sink + 1, dtype=np.int64), supplies)
        status = solver.solve()
        if status != solver.OPTIMAL:
            raise SolverUnavailable(f"{SOLVER_NAME} returned status {status}, not OPTIMAL")
        return solver.flows(arcs)

    def potentials(self, flow: Any) -> Any:
        """Shortest-path distances in the residual network, from a root joined to every node
        at no cost (Bellman-Ford, one vectorised pass over the arcs per round)."""
        np = self.np
        forward, backward = flow < self.capacity, flow > 0
        tail = np.concatenate([self.tail[forward], self.head[backward]])
        head = np.concatenate([self.head[forward], self.tail[backward]])
        cost = np.concatenate([self.cost[forward], -self.cost[backward]])
        distance = np.zeros(self.sink + 1, dtype=np.int64)
        for _ in range(self.sink + 2):
            relaxed = distance.copy()
            np.minimum.at(relaxed, head, distance[tail] + cost)
            if np.array_equal(relaxed, distance):
                return distance
            distance = relaxed
        # An optimal flow's residual network has no negative cycle: this is a solver fault.
        raise SolverUnavailable(f"{SOLVER_NAME}'s flow is not optimal (a negative cycle)")

    def pairs(self, flow: Any) -> dict[tuple[int, int], int]:
        """Parcels per (stop index, courier index in the instance), from the pair arcs."""
        carried = flow[: len(self.pair_stop)]
        return {
            (int(self.pair_stop[i]), self.usable[int(self.pair_courier[i])]): int(carried[i])
            for i in self.np.nonzero(carried)[0]
        }
