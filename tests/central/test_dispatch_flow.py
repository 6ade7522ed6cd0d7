"""Dispatch at the exact optimum (a min-cost flow), and the heuristic it falls back to."""

from __future__ import annotations

import logging
import random
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.capacity import dispatch_flow
from central.capacity.dispatch import (
    NO_CAPACITY_REASON,
    DispatchCosts,
    DispatchMethod,
    DispatchParcel,
    HandlingCapacity,
    build_instance,
    dispatch_wave,
    home_stop,
    site_stop,
)
from central.sites.network import Network, generate_network
from tests.bench.assignment import milli_cost, result_milli_cost, solve_exact
from tests.central.test_dispatch import LAT, courier, east, net, partner, wave

# Only price and distance count in the hand-computed instances: lateness is free and a
# kilometre costs a dollar, so each cost below is the partner's price plus the km driven.
BY_DISTANCE = DispatchCosts(late_penalty_sgd=0.0, cost_per_km_sgd=1.0)


def colleagues_network() -> Network:
    """Partner a's two couriers (at km 0 and km 4, one parcel each) and b's at km -10.

    Stop S1 at km 1: a1 3, a2 5, b 13 (regret against b: 10).
    Stop S2 at km -1: a1 3, a2 7, b 11 (regret: 8).
    The heuristic serves S1 first, from a1, which leaves S2 the far a2: 3 + 7 = 10.
    The optimum gives a1 to S2 and a2 to S1: 3 + 5 = 8.
    """
    return net(
        [partner("a", 2.0, 0.95), partner("b", 2.0, 0.95)],
        [
            courier("a1", "a", 0.0, capacity=1),
            courier("a2", "a", 4.0, capacity=1),
            courier("b1", "b", -10.0),
        ],
    )


def colleagues_wave() -> list[DispatchParcel]:
    return [
        DispatchParcel("LP0000000001", site_stop("S1", LAT, east(1.0)), 1000.0),
        DispatchParcel("LP0000000002", site_stop("S2", LAT, east(-1.0)), 1000.0),
    ]


def test_the_optimum_is_found_where_the_heuristic_misses_it() -> None:
    network = colleagues_network()
    optimal = dispatch_wave(
        colleagues_wave(), network, HandlingCapacity.full_day(network), BY_DISTANCE
    )
    heuristic = dispatch_wave(
        colleagues_wave(),
        network,
        HandlingCapacity.full_day(network),
        BY_DISTANCE,
        DispatchMethod.REGRET,
    )
    assert optimal.method is DispatchMethod.OPTIMAL
    assert {a.parcel: a.courier for a in optimal.assignments} == {
        "LP0000000001": "a2",
        "LP0000000002": "a1",
    }
    assert optimal.total_cost_sgd == pytest.approx(8.0, abs=1e-6)
    assert {a.parcel: a.courier for a in heuristic.assignments} == {
        "LP0000000001": "a1",
        "LP0000000002": "a2",
    }
    assert heuristic.total_cost_sgd == pytest.approx(10.0, abs=1e-6)


def test_a_partners_daily_capacity_is_shared_at_the_optimum() -> None:
    """Partner a (price 1) may carry 3 of 4 parcels at two stops; b costs 4 more at S1 but 1
    more at S2. Heuristic and optimum agree on the total: the fourth parcel goes to b at S2."""
    network = net(
        [partner("a", 1.0, 0.95, capacity=3), partner("b", 2.0, 0.95)],
        [courier("a1", "a", 0.0), courier("b1", "b", -2.0)],
    )
    parcels = [
        *wave(2, site_stop("S1", LAT, east(1.0))),
        *wave(2, site_stop("S2", LAT, east(-1.0)), start=10),
    ]
    remaining = HandlingCapacity.full_day(network)
    result = dispatch_wave(parcels, network, remaining, BY_DISTANCE)
    # S1: a 2, b 5; S2: a 2, b 3. Best: a for S1's two and one of S2's, b for the other.
    assert Counter((a.partner, round(a.cost_sgd, 6)) for a in result.assignments) == {
        ("a", 2.0): 3,
        ("b", 3.0): 1,
    }
    assert remaining.partners == {"a": 0, "b": 999}
    assert remaining.couriers == {"a1": 97, "b1": 99}
    # Within S2, the earlier-dispatched parcel keeps the cheaper courier (the 72-hour order).
    carried_by = {a.parcel: a.partner for a in result.assignments}
    assert carried_by["LP0000000010"] == "a" and carried_by["LP0000000011"] == "b"


def test_parcels_at_risk_are_carried_first_even_when_they_cost_more() -> None:
    """Room for three parcels: the two at risk, at a stop 20 km away, go before nearer ones."""
    network = net([partner("post", 2.0, 0.95, capacity=3)], [courier("K1", "post", 0.0)])
    near = wave(4, site_stop("NEAR", LAT, east(0.5)))
    far = site_stop("FAR", LAT, east(20.0))
    at_risk = [DispatchParcel(f"LP{n:010d}", far, 9000.0 + n, at_risk=True) for n in (90, 91)]
    result = dispatch_wave(near + at_risk, network, HandlingCapacity.full_day(network))
    assert result.method is DispatchMethod.OPTIMAL
    assert {a.parcel for a in result.assignments} == {
        "LP0000000090",
        "LP0000000091",
        "LP0000000000",  # the earliest dispatched of the near stop's four
    }
    assert [u.parcel for u in result.unassigned] == [f"LP{n:010d}" for n in (1, 2, 3)]


def test_parcels_left_behind_carry_the_same_reason_as_under_the_heuristic() -> None:
    network = net(
        [partner("post", 2.0, 0.95, capacity=5), partner("express", 3.0, 0.95, capacity=2)],
        [courier("K1", "post", 1.0), courier("K2", "express", 5.0)],
    )
    parcels = wave(6) + wave(4, site_stop("L0002", LAT, east(3.0)), start=50)
    optimal = dispatch_wave(parcels, network, HandlingCapacity.full_day(network))
    heuristic = dispatch_wave(
        parcels, network, HandlingCapacity.full_day(network), method=DispatchMethod.REGRET
    )
    assert len(optimal.assignments) == len(heuristic.assignments) == 7
    assert [u.reason for u in optimal.unassigned] == [NO_CAPACITY_REASON] * 3
    assert [u.reason for u in heuristic.unassigned] == [NO_CAPACITY_REASON] * 3


def test_without_the_solver_the_heuristic_assigns_the_wave_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # None in sys.modules makes `import` of that name raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, dispatch_flow.SOLVER_MODULE, None)
    network = colleagues_network()
    remaining = HandlingCapacity.full_day(network)
    with caplog.at_level(logging.WARNING, logger="central.capacity.dispatch"):
        result = dispatch_wave(colleagues_wave(), network, remaining, BY_DISTANCE)
    assert result.method is DispatchMethod.REGRET
    assert result.total_cost_sgd == pytest.approx(10.0, abs=1e-6)  # the heuristic's answer
    assert remaining.couriers == {"a1": 0, "a2": 0, "b1": 100}
    assert any(
        dispatch_flow.SOLVER_MODULE in r.message and "regret heuristic" in r.message
        for r in caplog.records
    )


def test_a_cost_too_large_for_exact_integers_falls_back_to_the_heuristic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    network = net([partner("post", 2.0, 0.95)], [courier("K1", "post", 1.0)])
    absurd = DispatchCosts(cost_per_km_sgd=1e12)
    with caplog.at_level(logging.WARNING, logger="central.capacity.dispatch"):
        result = dispatch_wave(wave(3), network, HandlingCapacity.full_day(network), absurd)
    assert result.method is DispatchMethod.REGRET
    assert len(result.assignments) == 3
    assert any("too large for the exact solver" in r.message for r in caplog.records)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), parcels=st.integers(1, 400))
def test_the_flow_equals_an_independent_optimum_and_keeps_every_rule(
    seed: int, parcels: int
) -> None:
    rng = random.Random(seed)
    network = generate_network(seed, lockers=5, counters=5, couriers=12)
    remaining = HandlingCapacity(
        partners={p.id: rng.randint(0, 120) for p in network.partners},
        couriers={c.id: rng.randint(0, 60) for c in network.couriers},
    )
    before = HandlingCapacity(dict(remaining.partners), dict(remaining.couriers))
    stops = [site_stop(s.id, s.lat, s.lon) for s in network.sites] + [
        home_stop(s.lat + 0.003, s.lon) for s in network.sites
    ]
    day = [
        DispatchParcel(
            f"LP{n:010d}", rng.choice(stops), rng.uniform(0, 1e5), at_risk=rng.random() < 0.2
        )
        for n in range(parcels)
    ]
    result = dispatch_wave(day, network, remaining)
    assert result.method is DispatchMethod.OPTIMAL

    instance, _ = build_instance(day, network, before)
    optimum, unserved = solve_exact(instance)
    assert result_milli_cost(result) == milli_cost(instance, optimum)
    assert len(result.unassigned) == unserved
    heuristic = dispatch_wave(day, network, before_copy(before), method=DispatchMethod.REGRET)
    assert len(heuristic.unassigned) == unserved
    assert result_milli_cost(result) <= result_milli_cost(heuristic)

    for cid, count in Counter(a.courier for a in result.assignments).items():
        assert count <= before.couriers[cid]
        assert remaining.couriers[cid] == before.couriers[cid] - count
    for pid, count in Counter(a.partner for a in result.assignments).items():
        assert count <= before.partners[pid]
        assert remaining.partners[pid] == before.partners[pid] - count
    # No parcel at risk is left behind while a parcel not at risk is carried.
    at_risk = {p.label for p in day if p.at_risk}
    if at_risk & {u.parcel for u in result.unassigned}:
        assert {a.parcel for a in result.assignments} <= at_risk


def before_copy(capacity: HandlingCapacity) -> HandlingCapacity:
    return HandlingCapacity(dict(capacity.partners), dict(capacity.couriers))


@pytest.mark.parametrize(
    ("offered", "rounds"),
    [(1, dispatch_flow.MAX_ROUNDS), (2, 1), (1, 0), (dispatch_flow.OFFERED_PER_PARTNER, 8)],
)
def test_the_optimum_is_the_same_however_few_pairs_are_offered_first(
    monkeypatch: pytest.MonkeyPatch, offered: int, rounds: int
) -> None:
    """One cheapest courier per partner is far from enough on this day (the first round's
    flow is dearer): the proof must find the pairs that improve it, or after `rounds`
    every pair is offered; the answer is the independent optimum every time."""
    monkeypatch.setattr(dispatch_flow, "OFFERED_PER_PARTNER", offered)
    monkeypatch.setattr(dispatch_flow, "MAX_ROUNDS", rounds)
    rng = random.Random(11)
    network = generate_network(11, lockers=15, counters=25, couriers=80)
    # Tight partners and couriers, so the cheapest couriers run out and others must carry.
    remaining = HandlingCapacity(
        partners={p.id: 700 for p in network.partners},
        couriers={c.id: rng.randint(5, 60) for c in network.couriers},
    )
    stops = [site_stop(s.id, s.lat, s.lon) for s in network.sites]
    day = [
        DispatchParcel(
            f"LP{n:010d}", rng.choice(stops), rng.uniform(0, 1e5), at_risk=rng.random() < 0.1
        )
        for n in range(3000)
    ]
    result = dispatch_wave(day, network, before_copy(remaining))
    instance, _ = build_instance(day, network, remaining)
    optimum, unserved = solve_exact(instance)
    assert result.method is DispatchMethod.OPTIMAL
    assert result_milli_cost(result) == milli_cost(instance, optimum)
    assert len(result.unassigned) == unserved
