"""Manifests: generated days are valid and on land; bad files are refused whole, precisely."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from central.capacity.geo import distance_km, on_land
from central.parcels.manifest import (
    FIELDS,
    ManifestError,
    ParcelAnnouncement,
    generate_manifest,
    read_manifest,
    write_manifest,
)
from central.sites.network import Network, generate_network, save_network
from protocols.cli import main as lockernet
from protocols.labels import LabelKind, parse_label
from protocols.messages import SiteKind

DAY = 1_750_000_000.0


@pytest.fixture(scope="module")
def network() -> Network:
    return generate_network(seed=3, lockers=40, counters=120, couriers=30)


@pytest.fixture(scope="module")
def parcels(network: Network) -> list[ParcelAnnouncement]:
    return generate_manifest(network, 2000, seed=9, start=DAY)


def test_generated_labels_are_valid_distinct_and_of_both_kinds(parcels) -> None:
    kinds = Counter(parse_label(p.label).kind for p in parcels)
    assert kinds[LabelKind.S10] > 0 and kinds[LabelKind.PLATFORM] > 0
    assert all(p.label.startswith("LP") for p in parcels if parse_label(p.label).kind == "platform")
    assert len({p.label for p in parcels}) == len(parcels)


def test_generated_destinations_are_on_land_near_sites(network, parcels) -> None:
    for parcel in parcels:
        assert on_land(parcel.dest_lat, parcel.dest_lon)
    nearest = [
        min(distance_km(p.dest_lat, p.dest_lon, s.lat, s.lon) for s in network.sites)
        for p in parcels[:200]
    ]
    assert sorted(nearest)[len(nearest) // 2] < 1.5


def test_generated_preferences_name_real_sites_of_the_right_kind(network, parcels) -> None:
    modes = Counter(p.preferred_mode for p in parcels)
    assert set(modes) == {"locker", "counter", "home", None}
    for parcel in parcels:
        if parcel.preferred_site is not None:
            site = network.site_by_id[parcel.preferred_site]
            assert site.kind == SiteKind(parcel.preferred_mode)


def test_generated_dispatch_times_are_before_the_day_within_the_promise(parcels) -> None:
    for parcel in parcels:
        assert DAY - 72 * 3600 < parcel.dispatched_at < DAY


def test_same_seed_same_manifest(network) -> None:
    assert generate_manifest(network, 50, 1, DAY) == generate_manifest(network, 50, 1, DAY)
    assert generate_manifest(network, 50, 1, DAY) != generate_manifest(network, 50, 2, DAY)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_manifest_round_trips_through_a_file(tmp_path, parcels, suffix) -> None:
    path = tmp_path / f"manifest{suffix}"
    write_manifest(parcels, path)
    assert read_manifest(path) == parcels


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _rows(parcels, count: int) -> list[dict[str, object]]:
    rows = [p.model_dump(mode="json") for p in parcels[:count]]
    return [{k: ("" if v is None else v) for k, v in row.items()} for row in rows]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("label", "RR123456789CN", "check digit"),
        ("size", "XXL", "size"),
        ("weight_kg", "-1", "greater than 0"),
        ("weight_kg", "heavy", "valid number"),
        ("dest_lat", "95", "less than or equal to 90"),
        ("consumer_email", "not-an-email", "consumer_email"),
        ("preferred_mode", "drone", "preferred_mode"),
        ("preferred_site", "L 01", "preferred_site"),
        ("dispatched_at", "2025-03-01T08:00:00", "time zone"),
        ("consumer_name", "", "consumer_name"),
    ],
)
def test_a_bad_csv_row_names_file_row_and_field_and_imports_nothing(
    tmp_path, parcels, field, value, message
) -> None:
    rows = _rows(parcels, 5)
    rows[3][field] = value
    path = tmp_path / "day.csv"
    _write_csv(path, rows)
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    text = str(error.value)
    assert "day.csv" in text
    assert "row 4" in text
    assert f"field {field}" in text
    assert message in text


def test_a_bad_json_row_names_file_row_and_field(tmp_path, parcels) -> None:
    rows = [p.model_dump(mode="json") for p in parcels[:3]]
    del rows[1]["dest_lon"]
    path = tmp_path / "day.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ManifestError, match=r"day\.json: row 2, field dest_lon: Field required"):
        read_manifest(path)


def test_a_duplicate_label_is_refused_naming_both_rows(tmp_path, parcels) -> None:
    rows = _rows(parcels, 4)
    rows[3]["label"] = rows[1]["label"]
    path = tmp_path / "dup.csv"
    _write_csv(path, rows)
    with pytest.raises(ManifestError, match=r"row 4, field label: .* already on row 2"):
        read_manifest(path)


def test_a_csv_without_a_required_column_is_refused(tmp_path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("label,size\nRR123456785CN,S\n")
    with pytest.raises(ManifestError, match=r"short\.csv: header lacks column\(s\) weight_kg"):
        read_manifest(path)


def test_a_csv_row_with_extra_cells_is_refused(tmp_path, parcels) -> None:
    path = tmp_path / "ragged.csv"
    _write_csv(path, _rows(parcels, 2))
    with path.open("a") as handle:
        handle.write(",".join(["x"] * (len(FIELDS) + 1)) + "\n")
    with pytest.raises(ManifestError, match=r"row 3.*more cells than the header"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", "{not json", "not JSON"),
        ("a.json", '{"label": "RR123456785CN"}', "list of parcels"),
        ("a.json", "[1, 2]", "row 1: a parcel is an object"),
        ("a.xml", "<parcels/>", "a .csv or .json file"),
    ],
)
def test_unreadable_manifests_are_refused(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_optional_cells_may_be_empty_and_iso_times_are_read(tmp_path, parcels) -> None:
    rows = _rows(parcels, 1)
    rows[0].update(
        consumer_phone="",
        consumer_email="",
        preferred_mode="",
        preferred_site="",
        dispatched_at="2025-03-01T08:00:00+08:00",
    )
    path = tmp_path / "one.csv"
    _write_csv(path, rows)
    (parcel,) = read_manifest(path)
    assert parcel.consumer_phone is None and parcel.preferred_mode is None
    assert parcel.dispatched_at == 1740787200.0


def test_cli_writes_a_manifest_from_a_network_file(tmp_path, network, capsys) -> None:
    network_path = tmp_path / "network.json"
    save_network(network, network_path)
    out = tmp_path / "day.csv"
    code = lockernet(
        ["network", "manifest", "--network", str(network_path), "--parcels", "25",
         "--seed", "8", "--start", "1750000000", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    assert len(read_manifest(out)) == 25
    assert "25 parcels" in capsys.readouterr().err


def test_cli_refuses_a_bad_network_file(tmp_path, capsys) -> None:
    network_path = tmp_path / "network.json"
    network_path.write_text("{}")
    out = tmp_path / "day.csv"
    code = lockernet(
        ["network", "manifest", "--network", str(network_path), "--parcels", "5",
         "--seed", "8", "-o", str(out)]
    )  # fmt: skip
    assert code == 1
    assert "network.json: not a valid network" in capsys.readouterr().err
    assert not out.exists()
