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

Parcels at risk are also priced `at_risk_penalty_factor` times for lateness in their costs
(the instance's `courier_urgent_extra`), so they go to the more punctual partner where that
is worth it. Which parcels of a stop ride with which courier (earliest dispatched with the
cheapest courier, the 72-hour order) is decided by the caller, as for the heuristic.

Why OR-Tools and not SciPy/HiGHS: measured on the benchmark's 200,000-parcel day
(tests/bench/assignment.py, seed 7: 2,634 stops x 600 couriers, 1.58 million parcel-courier
arcs) on the shared 2-core machine, OR-Tools' SimpleMinCostFlow, which solves flows and
nothing else, built and solved the wave in 1.25 s. HiGHS through scipy.optimize.linprog on
the same problem as an LP (4.7 million non-zeros; its vertex optimum is integral, the matrix
being a network matrix) took 97 s with its interior point and crossover, 138 s with its
default and its dual simplex, for the same optimum (to the thousandth of a dollar the
costs are rounded to): 80 to 110 times slower. Installed, OR-Tools brings 168 MB (ortools
80 MB, pandas 84 MB which it requires, protobuf, absl) beside the numpy that matplotlib
already brings; SciPy 143 MB: size does not decide it. OR-Tools was already the tests'
exact solver.

OR-Tools is imported when a wave is solved, not when this module is: without it the caller
falls back to the regret heuristic (SolverUnavailable).
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from central.capacity.dispatch import DispatchInstance

# Costs go to the integer solver in thousandths of a dollar: a parcel's cost is known to a
# tenth of a cent, finer than any price in the partners' contracts.
COST_SCALE = 1000
# The dearest scaled cost the solver is given: OR-Tools multiplies costs by the node count
# while it scales, and int64 must hold that product summed over a day's parcels.
MAX_SCALED_COST = 2**40
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
    flows = _solve(np, min_cost_flow, instance, usable, scaled)
    for (_, courier), amount in flows.items():
        instance.courier_left[courier] -= amount
        instance.partner_left[partner_of[courier]] -= amount
    return flows


def _scaled_costs(np: Any, instance: DispatchInstance, usable: list[int]) -> Any:
    """Cost of one parcel per (stop, usable courier), int64 thousandths: shape (stops, usable).

    The same sum as DispatchInstance.cost, vectorised (2,800 stops x 600 couriers a day).
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


def _solve(
    np: Any, min_cost_flow: Any, instance: DispatchInstance, usable: list[int], scaled: Any
) -> dict[tuple[int, int], int]:
    stops, couriers, partners = scaled.shape[0], len(usable), len(instance.partner_ids)
    courier_base, partner_base = stops, stops + couriers
    sink = partner_base + partners
    demand = np.asarray(instance.demand, dtype=np.int64)
    # Leaving a parcel behind: dearer than any pair, and a parcel at risk dearer still by
    # more than any pair's cost difference (see the module docstring).
    span = int(scaled.max()) - min(int(scaled.min()), 0)
    left_behind = np.full(stops, span + 1, dtype=np.int64)
    if instance.stop_urgent:
        left_behind[np.asarray(instance.stop_urgent, dtype=bool)] = 2 * (span + 1)

    flow = min_cost_flow.SimpleMinCostFlow()
    # Arc indices follow the order of addition: the pairs are arcs 0 .. stops*couriers-1.
    flow.add_arcs_with_capacity_and_unit_cost(
        np.repeat(np.arange(stops, dtype=np.int64), couriers),
        courier_base + np.tile(np.arange(couriers, dtype=np.int64), stops),
        np.repeat(demand, couriers),
        scaled.ravel(),
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        courier_base + np.arange(couriers, dtype=np.int64),
        partner_base + np.asarray([instance.courier_partner[k] for k in usable], dtype=np.int64),
        np.asarray([instance.courier_left[k] for k in usable], dtype=np.int64),
        np.zeros(couriers, dtype=np.int64),
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        partner_base + np.arange(partners, dtype=np.int64),
        np.full(partners, sink, dtype=np.int64),
        np.asarray(instance.partner_left, dtype=np.int64),
        np.zeros(partners, dtype=np.int64),
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(stops, dtype=np.int64), np.full(stops, sink, dtype=np.int64), demand, left_behind
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:stops] = demand
    supplies[sink] = -int(demand.sum())
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SolverUnavailable(f"{SOLVER_NAME} returned status {status}, not OPTIMAL")
    pairs = flow.flows(np.arange(stops * couriers, dtype=np.int64)).reshape(stops, couriers)
    stop_index, courier_index = np.nonzero(pairs)
    return {
        (int(s), usable[int(k)]): int(pairs[s, k])
        for s, k in zip(stop_index, courier_index, strict=True)
    }
