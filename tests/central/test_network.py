"""The generated network: Singapore-like, on land, valid ids, and a file that round-trips."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from central.capacity.geo import distance_km, on_land
from central.sites.network import (
    LOCKER_COMPARTMENTS_MAX,
    LOCKER_COMPARTMENTS_MIN,
    MAX_LOCKER_WEIGHT_KG,
    SIZE_DIMENSIONS_CM,
    Network,
    NetworkFileError,
    generate_network,
    load_network,
    save_network,
    size_for,
)
from protocols.cli import main as lockernet
from protocols.messages import SiteKind, SizeClass
from protocols.topics import SITE_ID_PATTERN

# Open water around the main island, and places that are land but not Singapore's.
SEA_POINTS = {
    "Singapore Strait south of the city": (1.200, 103.850),
    "off East Coast Park": (1.250, 103.950),
    "east of Changi": (1.330, 104.100),
    "west of Tuas": (1.300, 103.580),
    "Johor Strait off Kranji": (1.460, 103.750),
    "Johor Strait off Sembawang": (1.480, 103.830),
    "Serangoon Harbour": (1.430, 103.960),
    "Keppel Harbour, off Sentosa": (1.245, 103.830),
    "Johor Bahru": (1.490, 103.760),
    "MacRitchie Reservoir": (1.345, 103.822),
    "Upper Seletar Reservoir": (1.400, 103.805),
}
LAND_POINTS = {
    "Orchard Road": (1.304, 103.832),
    "Jurong East": (1.333, 103.742),
    "Tampines": (1.354, 103.944),
    "Woodlands": (1.436, 103.786),
    "Ang Mo Kio": (1.369, 103.849),
    "Changi Airport": (1.364, 103.991),
    "Raffles Place": (1.284, 103.851),
    "Tuas": (1.320, 103.650),
    "Punggol": (1.398, 103.907),
}


@pytest.fixture(scope="module")
def network() -> Network:
    return generate_network(seed=11)


@pytest.mark.parametrize("place", sorted(SEA_POINTS))
def test_known_sea_points_are_refused(place: str) -> None:
    assert not on_land(*SEA_POINTS[place]), place


@pytest.mark.parametrize("place", sorted(LAND_POINTS))
def test_known_land_points_are_accepted(place: str) -> None:
    assert on_land(*LAND_POINTS[place]), place


def test_default_network_has_the_size_of_todays_network(network: Network) -> None:
    kinds = Counter(site.kind for site in network.sites)
    assert kinds == {SiteKind.LOCKER: 500, SiteKind.COUNTER: 1600}
    assert len(network.couriers) == 600
    assert len(network.partners) == 4
    assert {c.partner for c in network.couriers} == {p.id for p in network.partners}


def test_every_site_and_depot_is_on_land(network: Network) -> None:
    for site in network.sites:
        assert on_land(site.lat, site.lon), site.id
    for courier in network.couriers:
        assert on_land(courier.depot_lat, courier.depot_lon), courier.id


def test_site_ids_are_valid_topic_levels_and_follow_the_scheme(network: Network) -> None:
    pattern = re.compile(SITE_ID_PATTERN)
    for site in network.sites:
        assert pattern.match(site.id)
        prefix = "L" if site.kind is SiteKind.LOCKER else "C"
        assert re.fullmatch(prefix + r"\d{4}", site.id)
    assert network.sites[0].id == "L0001"
    assert network.counters()[0].id == "C0001"


def test_lockers_have_a_realistic_compartment_mix(network: Network) -> None:
    totals = Counter[SizeClass]()
    for locker in network.lockers():
        assert locker.total_compartments >= LOCKER_COMPARTMENTS_MIN * 0.7
        assert locker.total_compartments <= LOCKER_COMPARTMENTS_MAX * 1.3
        assert set(locker.compartments) == set(SizeClass)
        assert locker.shelf_capacity == 0
        totals.update(locker.compartments)
    # Small compartments are the most common, extra-large the rarest.
    assert totals[SizeClass.S] > totals[SizeClass.M] > totals[SizeClass.L] > totals[SizeClass.XL]
    for counter in network.counters():
        assert counter.compartments == {}
        assert counter.shelf_capacity > 0


def test_sites_spread_over_the_island_not_one_town(network: Network) -> None:
    lats = [s.lat for s in network.sites]
    lons = [s.lon for s in network.sites]
    assert max(lons) - min(lons) > 0.25  # ~28 km east-west
    assert max(lats) - min(lats) > 0.12  # ~13 km north-south
    # Sites are where people are: most have another site within a kilometre.
    lockers = network.lockers()[:50]
    crowded = sum(
        1
        for a in lockers
        if any(distance_km(a.lat, a.lon, b.lat, b.lon) < 1.0 for b in network.sites if b is not a)
    )
    assert crowded >= 40


def test_partners_differ_in_price_and_service(network: Network) -> None:
    costs = sorted(p.cost_per_parcel for p in network.partners)
    rates = sorted(p.on_time_rate for p in network.partners)
    assert costs[0] < costs[-1]
    assert rates[0] < rates[-1] <= 1
    names = " ".join(p.name for p in network.partners)
    assert "Post" in names and "Express" in names
    # Together they can carry a 200,000-parcel day, with room for growth.
    assert sum(p.daily_capacity for p in network.partners) >= 200_000
    assert sum(c.capacity for c in network.couriers) >= 200_000


def test_same_seed_same_network_other_seed_other_network() -> None:
    small = {"lockers": 20, "counters": 30, "couriers": 10}
    assert generate_network(5, **small) == generate_network(5, **small)
    assert generate_network(5, **small) != generate_network(6, **small)


def test_counts_are_honoured_and_negative_counts_refused() -> None:
    network = generate_network(1, lockers=3, counters=4, couriers=7)
    assert len(network.lockers()) == 3
    assert len(network.counters()) == 4
    assert len(network.couriers) == 7
    with pytest.raises(ValueError, match="negative"):
        generate_network(1, lockers=-1)


def test_network_file_round_trips(tmp_path, network: Network) -> None:
    path = tmp_path / "network.json"
    save_network(network, path)
    assert load_network(path) == network


def test_a_bad_network_file_is_refused_naming_file_and_place(tmp_path) -> None:
    network = generate_network(2, lockers=2, counters=2, couriers=2)
    document = json.loads(network.model_dump_json())
    document["sites"][1]["id"] = "L 0002"  # a space cannot be a topic level
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(NetworkFileError, match=r"bad\.json.*sites\.1\.id"):
        load_network(path)


def test_a_courier_of_an_unknown_partner_is_refused(tmp_path) -> None:
    network = generate_network(2, lockers=2, counters=2, couriers=2)
    document = json.loads(network.model_dump_json())
    document["couriers"][0]["partner"] = "nobody"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(NetworkFileError, match="unknown partner 'nobody'"):
        load_network(path)


def test_a_missing_network_file_says_so(tmp_path) -> None:
    with pytest.raises(NetworkFileError, match=r"missing\.json: cannot read"):
        load_network(tmp_path / "missing.json")


def test_size_for_gives_the_smallest_class_that_fits() -> None:
    assert size_for(30, 5, 20, 0.4) is SizeClass.S
    assert size_for(5, 30, 20, 0.4) is SizeClass.S  # turned on its side
    assert size_for(35, 15, 50, 2.0) is SizeClass.M
    assert size_for(35, 35, 50, 5.0) is SizeClass.L
    assert size_for(45, 55, 58, 12.0) is SizeClass.XL
    for size, dims in SIZE_DIMENSIONS_CM.items():
        assert size_for(*dims, 1.0) is size


def test_size_for_refuses_what_no_compartment_takes() -> None:
    assert size_for(100, 20, 20, 2.0) is None  # too long
    assert size_for(30, 5, 20, MAX_LOCKER_WEIGHT_KG + 0.1) is None  # too heavy
    assert size_for(0, 5, 20, 1.0) is None
    assert size_for(30, 5, 20, 0) is None
    assert size_for(float("nan"), 5, 20, 1.0) is None


def test_cli_generates_a_network_file(tmp_path, capsys) -> None:
    out = tmp_path / "net.json"
    code = lockernet(
        [
            "network", "generate", "--seed", "4", "-o", str(out),
            "--lockers", "5", "--counters", "6", "--couriers", "8",
        ]
    )  # fmt: skip
    assert code == 0
    network = load_network(out)
    assert len(network.lockers()) == 5 and len(network.counters()) == 6
    assert len(network.couriers) == 8
    assert "5 lockers" in capsys.readouterr().err


def test_cli_refuses_a_negative_count(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lockernet(["network", "generate", "--seed", "4", "-o", str(tmp_path / "n.json"),
                   "--lockers", "-3"])  # fmt: skip
    assert exit_info.value.code == 2
    assert "not between 0 and" in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()
