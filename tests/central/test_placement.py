"""Delivery-point choice: chosen locker, nearest locker, counter, home; never over-booked."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.capacity.geo import KM_PER_DEG_LON, distance_km
from central.capacity.placement import (
    DeliveryMode,
    InMemoryCapacity,
    Placement,
    PlacementPolicy,
    PlacementRule,
    Placer,
    SpatialIndex,
)
from central.sites.network import Network, NetworkSite, Partner, generate_network
from protocols.messages import SiteKind, SizeClass

# A street in Tampines; sites east of it at known distances.
HOME_LAT, HOME_LON = 1.3526, 103.9447


def east(km: float) -> float:
    return HOME_LON + km / KM_PER_DEG_LON


def locker(site_id: str, km: float, **sizes: int) -> NetworkSite:
    return NetworkSite(
        id=site_id,
        kind=SiteKind.LOCKER,
        name=f"Tampines Locker {site_id}",
        lat=HOME_LAT,
        lon=east(km),
        postal_code="520001",
        compartments={SizeClass(size): count for size, count in sizes.items()},
    )


def counter(site_id: str, km: float, shelf: int) -> NetworkSite:
    return NetworkSite(
        id=site_id,
        kind=SiteKind.COUNTER,
        name=f"Tampines Mart {site_id}",
        lat=HOME_LAT,
        lon=east(km),
        postal_code="520002",
        shelf_capacity=shelf,
    )


def network_of(*sites: NetworkSite) -> Network:
    partner = Partner(id="p", name="P", cost_per_parcel=2, on_time_rate=0.9, daily_capacity=9)
    return Network(sites=list(sites), partners=[partner], couriers=[])


@dataclass(frozen=True)
class Parcel:
    label: str
    size: SizeClass = SizeClass.S
    dest_lat: float = HOME_LAT
    dest_lon: float = HOME_LON
    preferred_mode: str | None = None
    preferred_site: str | None = None


def test_the_chosen_locker_gets_the_parcel_in_the_smallest_compartment_that_fits() -> None:
    net = network_of(locker("L0001", 0.2, S=1, M=1, XL=1), locker("L0002", 2.0, S=5, M=5))
    view = InMemoryCapacity.empty_network(net)
    placer = Placer(net)
    chosen = Parcel("LP00000001", SizeClass.S, preferred_mode="locker", preferred_site="L0002")
    placed = placer.place(chosen, view)
    assert placed.rule is PlacementRule.CHOSEN_LOCKER
    assert (placed.site, placed.compartment) == ("L0002", SizeClass.S)
    assert placed.distance_km == pytest.approx(2.0, abs=0.01)
    # S taken at the nearest locker: the next S parcel gets M there, then an M parcel gets XL.
    assert placer.place(Parcel("LP00000002"), view).compartment is SizeClass.S
    assert placer.place(Parcel("LP00000003"), view).compartment is SizeClass.M
    third = placer.place(Parcel("LP00000004", SizeClass.M), view)
    assert (third.site, third.compartment) == ("L0001", SizeClass.XL)


def test_a_full_chosen_locker_falls_back_to_the_nearest_locker_with_room() -> None:
    net = network_of(
        locker("L0001", 0.3, S=0, M=1),  # nearest, but its only M is already taken below
        locker("L0002", 0.6, S=2),
        locker("L0003", 1.0, S=2),
        locker("L0009", 0.1, S=2),  # the consumer's choice, full
    )
    view = InMemoryCapacity({("L0001", SizeClass.M): 0, ("L0002", SizeClass.S): 2,
                             ("L0003", SizeClass.S): 2, ("L0009", SizeClass.S): 0}, {})  # fmt: skip
    placed = Placer(net).place(Parcel("LP00000001", preferred_site="L0009"), view)
    assert placed.rule is PlacementRule.NEAREST_LOCKER
    assert placed.site == "L0002"
    assert placed.mode is DeliveryMode.LOCKER


def test_a_parcel_too_big_for_a_lockers_free_compartments_goes_to_the_next_locker() -> None:
    net = network_of(locker("L0001", 0.2, S=10, M=10), locker("L0002", 0.8, S=1, L=1))
    placed = Placer(net).place(
        Parcel("LP00000001", SizeClass.L), InMemoryCapacity.empty_network(net)
    )
    assert (placed.site, placed.compartment) == ("L0002", SizeClass.L)


def test_no_locker_within_the_distance_means_a_collection_point_with_room() -> None:
    net = network_of(
        locker("L0001", 2.5, S=10), counter("C0001", 0.5, 0 + 1), counter("C0002", 1.2, 5)
    )
    view = InMemoryCapacity.empty_network(net)
    placer = Placer(net)
    first = placer.place(Parcel("LP00000001"), view)
    assert (first.rule, first.site, first.mode) == (
        PlacementRule.NEAREST_COUNTER, "C0001", DeliveryMode.COUNTER,
    )  # fmt: skip
    # C0001's one shelf place is gone: the next parcel goes to the next counter with room.
    assert placer.place(Parcel("LP00000002"), view).site == "C0002"


def test_the_locker_distance_is_configurable() -> None:
    net = network_of(locker("L0001", 2.5, S=10), counter("C0001", 0.5, 5))
    view = InMemoryCapacity.empty_network(net)
    wider = Placer(net, PlacementPolicy(max_locker_distance_km=3.0))
    placed = wider.place(Parcel("LP00000001"), view)
    assert (placed.rule, placed.site) == (PlacementRule.NEAREST_LOCKER, "L0001")
    with pytest.raises(ValueError, match="max_locker_distance_km"):
        PlacementPolicy(max_locker_distance_km=-1)


def test_nothing_with_room_means_home_delivery() -> None:
    net = network_of(locker("L0001", 0.2, S=1), counter("C0001", 0.5, 1), counter("C0002", 5.0, 50))
    view = InMemoryCapacity.empty_network(net)
    placer = Placer(net)
    placer.place(Parcel("LP00000001"), view)
    placer.place(Parcel("LP00000002"), view)
    home = placer.place(Parcel("LP00000003"), view)
    assert (home.mode, home.rule, home.site) == (
        DeliveryMode.HOME, PlacementRule.HOME_FALLBACK, None,
    )  # fmt: skip


def test_a_consumer_who_chose_home_gets_home_and_takes_no_capacity() -> None:
    net = network_of(locker("L0001", 0.2, S=1))
    view = InMemoryCapacity.empty_network(net)
    placed = Placer(net).place(Parcel("LP00000001", preferred_mode="home"), view)
    assert placed.rule is PlacementRule.HOME_CHOSEN
    assert view.free_compartments("L0001", SizeClass.S) == 1


def test_a_consumer_who_chose_a_counter_gets_it_or_the_nearest_counter_first() -> None:
    net = network_of(locker("L0001", 0.1, S=5), counter("C0001", 2.0, 1), counter("C0002", 0.4, 1))
    view = InMemoryCapacity.empty_network(net)
    placer = Placer(net)
    chosen = placer.place(
        Parcel("LP00000001", preferred_mode="counter", preferred_site="C0001"), view
    )
    assert (chosen.rule, chosen.site) == (PlacementRule.CHOSEN_COUNTER, "C0001")
    again = placer.place(
        Parcel("LP00000002", preferred_mode="counter", preferred_site="C0001"), view
    )
    assert (again.rule, again.site) == (PlacementRule.NEAREST_COUNTER, "C0002")
    # No counter left with room: a locker rather than home.
    last = placer.place(Parcel("LP00000003", preferred_mode="counter"), view)
    assert (last.rule, last.site) == (PlacementRule.NEAREST_LOCKER, "L0001")


def test_an_unknown_chosen_site_is_treated_as_no_choice() -> None:
    net = network_of(locker("L0001", 0.2, S=1))
    placed = Placer(net).place(
        Parcel("LP00000001", preferred_site="L9999"), InMemoryCapacity.empty_network(net)
    )
    assert (placed.rule, placed.site) == (PlacementRule.NEAREST_LOCKER, "L0001")


class RacingView(InMemoryCapacity):
    """A store where another central process sometimes takes the space first."""

    def __init__(self, base: InMemoryCapacity, seed: int) -> None:
        super().__init__(dict(base._free), dict(base._room))
        self._rng = random.Random(seed)
        self.lost = 0

    def _steal(self) -> bool:
        if self._rng.random() < 0.3:
            self.lost += 1
            return True
        return False

    def reserve_compartment(self, site: str, size: SizeClass, parcel: str) -> bool:
        if self._steal() and self._free.get((site, size), 0) > 0:
            self._free[(site, size)] -= 1  # gone to someone else's parcel
            return False
        return super().reserve_compartment(site, size, parcel)

    def reserve_shelf(self, site: str, parcel: str) -> bool:
        if self._steal() and self._room.get(site, 0) > 0:
            self._room[site] -= 1
            return False
        return super().reserve_shelf(site, parcel)


def _booked(placements: list[Placement]) -> tuple[Counter[tuple[str, SizeClass]], Counter[str]]:
    compartments: Counter[tuple[str, SizeClass]] = Counter()
    shelves: Counter[str] = Counter()
    for placed in placements:
        if placed.mode is DeliveryMode.LOCKER:
            assert placed.site is not None and placed.compartment is not None
            compartments[(placed.site, placed.compartment)] += 1
        elif placed.mode is DeliveryMode.COUNTER:
            assert placed.site is not None
            shelves[placed.site] += 1
    return compartments, shelves


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), parcels=st.integers(1, 400), racing=st.booleans())
def test_placement_never_over_books_a_capacity_view(seed: int, parcels: int, racing: bool) -> None:
    rng = random.Random(seed)
    net = generate_network(seed, lockers=6, counters=6, couriers=0)
    start = InMemoryCapacity(
        {
            (site.id, size): rng.randint(0, 3)
            for site in net.lockers()
            for size in site.compartments
        },
        {site.id: rng.randint(0, 4) for site in net.counters()},
    )
    view: InMemoryCapacity = (
        RacingView(start, seed)
        if racing
        else InMemoryCapacity(dict(start._free), dict(start._room))
    )
    anchor = net.sites[0]
    wave = [
        Parcel(
            f"LP{n:010d}",
            rng.choice(list(SizeClass)),
            anchor.lat + rng.uniform(-0.02, 0.02),
            anchor.lon + rng.uniform(-0.02, 0.02),
            rng.choice([None, "locker", "counter", "home"]),
            rng.choice([None, rng.choice(net.sites).id]),
        )
        for n in range(parcels)
    ]
    placements = Placer(net, PlacementPolicy(50.0, 50.0)).place_all(wave, view)
    compartments, shelves = _booked(placements)
    for key, count in compartments.items():
        assert count <= start.free_compartments(*key)
    for site, count in shelves.items():
        assert count <= start.counter_room(site)
    # Every placement the placer reports was granted by the view, and only those.
    granted = {p.parcel for p in placements if p.mode is not DeliveryMode.HOME}
    assert granted == set(view.reservations)
    for placed in placements:
        if placed.mode is DeliveryMode.LOCKER:
            assert placed.compartment is not None
            size = next(p.size for p in wave if p.label == placed.parcel)
            assert list(SizeClass).index(placed.compartment) >= list(SizeClass).index(size)


def test_a_parcel_is_never_reserved_twice() -> None:
    net = network_of(locker("L0001", 0.2, S=3))
    view = InMemoryCapacity.empty_network(net)
    placer = Placer(net)
    placer.place(Parcel("LP00000001"), view)
    again = placer.place(Parcel("LP00000001"), view)
    assert again.mode is DeliveryMode.HOME  # the view refused a second reservation
    assert view.free_compartments("L0001", SizeClass.S) == 2


@settings(max_examples=30, deadline=None)
@given(
    lat=st.floats(1.25, 1.47),
    lon=st.floats(103.60, 104.05),
    radius=st.floats(0.0, 6.0),
)
def test_the_spatial_index_finds_exactly_the_sites_within_range_nearest_first(
    lat: float, lon: float, radius: float
) -> None:
    sites = _indexed_network().sites
    index = SpatialIndex(sites)
    expected = sorted(
        (distance_km(lat, lon, s.lat, s.lon), s.id)
        for s in sites
        if distance_km(lat, lon, s.lat, s.lon) <= radius
    )
    lazy = [(d, s.id) for d, s in index.by_distance(lat, lon, radius)]
    eager = [(d, s.id) for d, s in index.within(lat, lon, radius)]
    # The same sites in the same order; distances equal but for the last float digits (the
    # index may compute them in another order of operations).
    assert [sid for _, sid in lazy] == [sid for _, sid in eager] == [sid for _, sid in expected]
    for (a, _), (b, _), (c, _) in zip(lazy, eager, expected, strict=True):
        assert a == pytest.approx(c, abs=1e-9) and b == pytest.approx(c, abs=1e-9)
    nearest = [s.id for _, s in index.nearest(lat, lon, 3)]
    assert nearest == [sid for _, sid in sorted(
        (distance_km(lat, lon, s.lat, s.lon), s.id) for s in sites)[:3]]  # fmt: skip


_INDEXED: list[Network] = []


def _indexed_network() -> Network:
    if not _INDEXED:
        _INDEXED.append(generate_network(21, lockers=150, counters=300, couriers=0))
    return _INDEXED[0]
