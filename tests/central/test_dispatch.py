"""Partner and courier choice: price, punctuality and distance weigh in; capacity never breaks."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.capacity.dispatch import (
    DispatchCosts,
    DispatchMethod,
    DispatchParcel,
    HandlingCapacity,
    Stop,
    build_instance,
    dispatch_wave,
    flows_cost,
    home_stop,
    site_stop,
    stop_for,
)
from central.capacity.geo import KM_PER_DEG_LON, distance_km, on_land
from central.capacity.placement import DeliveryMode, Placement, PlacementRule
from central.sites.network import Courier, Network, Partner, generate_network

LAT, LON = 1.3526, 103.9447  # Tampines


def east(km: float) -> float:
    return LON + km / KM_PER_DEG_LON


def partner(pid: str, cost: float, on_time: float, capacity: int = 1000) -> Partner:
    return Partner(
        id=pid, name=pid.title(), cost_per_parcel=cost, on_time_rate=on_time,
        daily_capacity=capacity,
    )  # fmt: skip


def courier(cid: str, pid: str, km: float, capacity: int = 100) -> Courier:
    return Courier(id=cid, partner=pid, depot_lat=LAT, depot_lon=east(km), capacity=capacity)


def net(partners: list[Partner], couriers: list[Courier]) -> Network:
    return Network(sites=[], partners=partners, couriers=couriers)


def wave(count: int, stop: Stop | None = None, start: int = 0) -> list[DispatchParcel]:
    stop = stop or site_stop("L0001", LAT, LON)
    return [DispatchParcel(f"LP{n:010d}", stop, 1000.0 + n) for n in range(start, start + count)]


def test_the_cheaper_partner_carries_when_service_is_equal() -> None:
    network = net(
        [partner("post", 2.0, 0.95), partner("express", 3.0, 0.95)],
        [courier("K1", "post", 1.0), courier("K2", "express", 1.0)],
    )
    result = dispatch_wave(wave(10), network, HandlingCapacity.full_day(network))
    assert {a.partner for a in result.assignments} == {"post"}
    assert result.total_cost_sgd == pytest.approx(10 * (2.0 + 20 * 0.05 + 0.08 * 1.0), rel=1e-3)


def test_punctuality_is_worth_paying_for_when_lateness_is_dear() -> None:
    network = net(
        [partner("post", 2.0, 0.80), partner("express", 3.0, 0.99)],
        [courier("K1", "post", 1.0), courier("K2", "express", 1.0)],
    )
    dear = dispatch_wave(wave(5), network, HandlingCapacity.full_day(network))
    assert {a.partner for a in dear.assignments} == {"express"}  # 2 + 4 > 3 + 0.2
    cheap_lateness = DispatchCosts(late_penalty_sgd=1.0)
    cheap = dispatch_wave(wave(5), network, HandlingCapacity.full_day(network), cheap_lateness)
    assert {a.partner for a in cheap.assignments} == {"post"}


def test_the_nearer_courier_carries() -> None:
    network = net(
        [partner("post", 2.0, 0.95)],
        [courier("far", "post", 15.0), courier("near", "post", 0.5), courier("mid", "post", 4.0)],
    )
    result = dispatch_wave(wave(20), network, HandlingCapacity.full_day(network))
    assert {a.courier for a in result.assignments} == {"near"}


def test_a_full_courier_hands_over_to_the_next_best() -> None:
    network = net(
        [partner("post", 2.0, 0.95)],
        [courier("near", "post", 0.5, capacity=7), courier("mid", "post", 4.0, capacity=50)],
    )
    remaining = HandlingCapacity.full_day(network)
    result = dispatch_wave(wave(20), network, remaining)
    assert Counter(a.courier for a in result.assignments) == {"near": 7, "mid": 13}
    assert remaining.couriers == {"near": 0, "mid": 37}
    assert remaining.partners == {"post": 980}


def test_a_partners_daily_capacity_binds_across_its_couriers() -> None:
    network = net(
        [partner("post", 2.0, 0.95, capacity=12), partner("express", 3.0, 0.95)],
        [courier("K1", "post", 0.5), courier("K2", "post", 0.6), courier("K3", "express", 3.0)],
    )
    result = dispatch_wave(wave(30), network, HandlingCapacity.full_day(network))
    carried = Counter(a.partner for a in result.assignments)
    assert carried == {"post": 12, "express": 18}


def test_parcels_nobody_can_carry_are_reported_and_the_oldest_go_first() -> None:
    network = net([partner("post", 2.0, 0.95, capacity=6)], [courier("K1", "post", 1.0)])
    parcels = wave(10)
    random.Random(1).shuffle(parcels)
    result = dispatch_wave(parcels, network, HandlingCapacity.full_day(network))
    assert len(result.assignments) == 6
    assert len(result.unassigned) == 4
    assert all("capacity" in u.reason for u in result.unassigned)
    # The six dispatched earliest (nearest their 72-hour promise) are the ones carried.
    assert {a.parcel for a in result.assignments} == {f"LP{n:010d}" for n in range(6)}


def test_waves_share_the_days_capacity() -> None:
    network = net([partner("post", 2.0, 0.95, capacity=25)], [courier("K1", "post", 1.0, 40)])
    remaining = HandlingCapacity.full_day(network)
    morning = dispatch_wave(wave(15), network, remaining)
    afternoon = dispatch_wave(wave(15, start=100), network, remaining)
    assert len(morning.assignments) == 15
    assert len(afternoon.assignments) == 10 and len(afternoon.unassigned) == 5
    assert remaining.partners["post"] == 0


def test_a_wave_with_a_parcel_twice_is_refused_and_changes_nothing() -> None:
    network = net([partner("post", 2.0, 0.95)], [courier("K1", "post", 1.0)])
    remaining = HandlingCapacity.full_day(network)
    parcels = wave(3) + wave(1)
    with pytest.raises(ValueError, match="appears twice"):
        dispatch_wave(parcels, network, remaining)
    assert remaining == HandlingCapacity.full_day(network)


def test_bad_cost_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="late_penalty_sgd"):
        DispatchCosts(late_penalty_sgd=-1)
    with pytest.raises(ValueError, match="home_zone_km"):
        DispatchCosts(home_zone_km=0)


def test_home_deliveries_are_driven_to_their_zone_and_site_parcels_to_the_site() -> None:
    network = generate_network(2, lockers=3, counters=3, couriers=0)
    site = network.lockers()[0]
    at_site = Placement("LP0000000001", DeliveryMode.LOCKER, PlacementRule.NEAREST_LOCKER, site.id)
    assert stop_for(at_site, LAT, LON, network) == site_stop(site.id, site.lat, site.lon)
    home = Placement("LP0000000002", DeliveryMode.HOME, PlacementRule.HOME_CHOSEN)
    zone = stop_for(home, LAT, LON, network)
    assert zone == home_stop(LAT, LON)
    assert distance_km(LAT, LON, zone.lat, zone.lon) <= 0.71  # within half a 1 km diagonal
    # Every address in the zone's square is driven to the same stop.
    assert home_stop(zone.lat + 0.004, zone.lon - 0.004) == zone
    assert on_land(zone.lat, zone.lon)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), parcels=st.integers(0, 600))
def test_no_capacity_is_ever_exceeded_and_no_parcel_is_lost(seed: int, parcels: int) -> None:
    rng = random.Random(seed)
    network = generate_network(seed, lockers=5, counters=5, couriers=12)
    # Shrink capacities at random so that some instances run short.
    remaining = HandlingCapacity(
        partners={p.id: rng.randint(0, 120) for p in network.partners},
        couriers={c.id: rng.randint(0, 60) for c in network.couriers},
    )
    before = HandlingCapacity(dict(remaining.partners), dict(remaining.couriers))
    stops = [site_stop(s.id, s.lat, s.lon) for s in network.sites] + [
        home_stop(s.lat + 0.003, s.lon) for s in network.sites
    ]
    parcels_in = [
        DispatchParcel(f"LP{n:010d}", rng.choice(stops), rng.uniform(0, 1e5))
        for n in range(parcels)
    ]
    result = dispatch_wave(parcels_in, network, remaining)

    per_courier = Counter(a.courier for a in result.assignments)
    per_partner = Counter(a.partner for a in result.assignments)
    couriers = {c.id: c for c in network.couriers}
    for cid, count in per_courier.items():
        assert count <= before.couriers[cid]
        assert remaining.couriers[cid] == before.couriers[cid] - count
        assert couriers[cid].partner in per_partner
    for pid, count in per_partner.items():
        assert count <= before.partners[pid]
        assert remaining.partners[pid] == before.partners[pid] - count
    labels_out = [a.parcel for a in result.assignments] + [u.parcel for u in result.unassigned]
    assert sorted(labels_out) == sorted(p.label for p in parcels_in)
    # Nothing is left unassigned while some courier of a partner with room could take it.
    if result.unassigned:
        for c in network.couriers:
            assert remaining.couriers[c.id] == 0 or remaining.partners[c.partner] == 0


def test_the_plan_is_the_exact_optimum_and_the_heuristic_close_to_it() -> None:
    """Both methods against the bench's own OR-Tools min-cost flow on a small generated day."""
    from central.capacity.placement import InMemoryCapacity, Placer
    from central.parcels.manifest import generate_manifest
    from tests.bench.assignment import milli_cost, result_milli_cost, solve_exact

    network = generate_network(5, lockers=20, counters=60, couriers=40)
    parcels = generate_manifest(network, 12_000, seed=5, start=1_750_000_000)
    placements = Placer(network).place_all(parcels, InMemoryCapacity.empty_network(network))
    day = [
        DispatchParcel(p.label, stop_for(pl, p.dest_lat, p.dest_lon, network), p.dispatched_at)
        for p, pl in zip(parcels, placements, strict=True)
    ]
    # A day the partners cannot quite carry: all must leave the same number behind.
    remaining = HandlingCapacity.full_day(network)
    remaining.partners = {pid: cap // 25 for pid, cap in remaining.partners.items()}

    def fresh() -> HandlingCapacity:
        return HandlingCapacity(dict(remaining.partners), dict(remaining.couriers))

    plan = dispatch_wave(day, network, fresh())
    heuristic = dispatch_wave(day, network, fresh(), method=DispatchMethod.REGRET)
    instance, _ = build_instance(day, network, remaining)
    optimum, unserved = solve_exact(instance)
    optimum_cost = flows_cost(instance, optimum)
    assert plan.method is DispatchMethod.OPTIMAL
    assert len(plan.unassigned) == len(heuristic.unassigned) == unserved
    assert result_milli_cost(plan) == milli_cost(instance, optimum)
    assert optimum_cost <= heuristic.total_cost_sgd + 1e-6 * len(day)
    assert heuristic.total_cost_sgd <= optimum_cost * 1.05


def test_a_parcel_at_risk_goes_to_the_partner_that_is_more_often_on_time() -> None:
    network = net(
        [partner("post", 2.0, 0.95), partner("express", 3.5, 0.99)],
        [courier("K1", "post", 1.0), courier("K2", "express", 1.0)],
    )
    stop = site_stop("L0001", LAT, LON)
    parcels = [*wave(4), DispatchParcel("LP0000000099", stop, 5000.0, at_risk=True)]
    result = dispatch_wave(parcels, network, HandlingCapacity.full_day(network))
    by_parcel = {a.parcel: a.partner for a in result.assignments}
    # Normally post is cheaper (2 + 20 x 0.05 < 3.5 + 20 x 0.01); at risk, lateness is
    # priced five times: 2 + 5 < 3.5 + 1.
    assert by_parcel.pop("LP0000000099") == "express"
    assert set(by_parcel.values()) == {"post"}


def test_parcels_at_risk_are_carried_before_older_ones_when_capacity_is_short() -> None:
    network = net([partner("post", 2.0, 0.95, capacity=5)], [courier("K1", "post", 1.0)])
    stop = site_stop("L0001", LAT, LON)
    at_risk = [DispatchParcel(f"LP{n:010d}", stop, 9000.0 + n, at_risk=True) for n in (90, 91)]
    result = dispatch_wave(wave(6) + at_risk, network, HandlingCapacity.full_day(network))
    carried = {a.parcel for a in result.assignments}
    # Both at risk, then the three dispatched earliest of the rest (the 72-hour order).
    assert carried == {"LP0000000090", "LP0000000091"} | {f"LP{n:010d}" for n in range(3)}
    assert len(result.unassigned) == 3
    assert all("capacity" in u.reason for u in result.unassigned)


def test_an_at_risk_factor_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at_risk_penalty_factor"):
        DispatchCosts(at_risk_penalty_factor=0.5)
