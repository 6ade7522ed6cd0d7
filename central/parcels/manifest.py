"""Parcel manifests: what a shipper announces before the parcels land (CSV or JSON).

`read_manifest` validates a whole file before returning anything: a bad file raises a
ManifestError naming the file, the row and the field, and nothing of it is imported.
`generate_manifest` makes a realistic day of parcels for a network (tests, benchmarks, demo).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from central.errors import CentralError
from central.sites.network import (
    Network,
    NetworkSite,
    random_point_near,
)
from protocols.labels import make_s10
from protocols.messages import LabelId, SiteId, SizeClass

# A manifest bigger than this is a mistake (a day of the network is ~200,000 parcels).
MAX_MANIFEST_PARCELS = 2_000_000
MAX_MANIFEST_BYTES = 1024 * 1024 * 1024
# The heaviest parcel any partner takes (home delivery included).
MAX_PARCEL_WEIGHT_KG = 70.0

DeliveryModePreference = Literal["locker", "counter", "home"]

FIELDS: tuple[str, ...] = (
    "label",
    "size",
    "weight_kg",
    "dest_postal_code",
    "dest_lat",
    "dest_lon",
    "consumer_name",
    "consumer_phone",
    "consumer_email",
    "preferred_mode",
    "preferred_site",
    "dispatched_at",
)
OPTIONAL_FIELDS = frozenset(
    {"consumer_phone", "consumer_email", "preferred_mode", "preferred_site"}
)


def _empty_is_none(value: Any) -> Any:
    """CSV has no null: an empty cell means "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def unix_time(value: Any, what: str = "dispatch time") -> Any:
    """Unix seconds, or an ISO 8601 time with its zone (e.g. 2025-03-01T08:00:00+08:00), as
    Unix seconds; anything else is left for the field's own check. ValueError naming `what`
    for a text that is neither, or an ISO time without its zone (a partner's local time
    would be read as ours)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{what} must be Unix seconds or ISO 8601, e.g. 2025-03-01T08:00:00+08:00"
            ) from None
        if moment.tzinfo is None:
            raise ValueError(f"an ISO 8601 {what} needs its time zone, e.g. +08:00")
        return moment.timestamp()
    return value


Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()-]{5,19}$")]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class ParcelAnnouncement(BaseModel):
    """One parcel as announced: where it goes, to whom, and how the consumer likes it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    label: LabelId
    size: SizeClass
    weight_kg: Annotated[float, Field(gt=0, le=MAX_PARCEL_WEIGHT_KG)]
    dest_postal_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{2,9}$")]
    dest_lat: Annotated[float, Field(ge=-90, le=90)]
    dest_lon: Annotated[float, Field(ge=-180, le=180)]
    consumer_name: Annotated[str, Field(min_length=1, max_length=120)]
    consumer_phone: Annotated[Phone | None, BeforeValidator(_empty_is_none)] = None
    consumer_email: Annotated[Email | None, BeforeValidator(_empty_is_none)] = None
    preferred_mode: Annotated[DeliveryModePreference | None, BeforeValidator(_empty_is_none)] = None
    preferred_site: Annotated[SiteId | None, BeforeValidator(_empty_is_none)] = None
    dispatched_at: Annotated[float, BeforeValidator(unix_time), Field(ge=0)]


class ManifestError(CentralError, ValueError):
    """A manifest that cannot be imported; the message names the file, row and field."""


def read_manifest(
    path: str | Path, *, label_check: LabelCheck | None = None
) -> list[ParcelAnnouncement]:
    """All parcels of a .csv or .json manifest, or ManifestError and nothing at all
    (`label_check` as for check_rows)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ManifestError(f"{path}: a manifest is a .csv or .json file, not {suffix or 'none'}")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rows = _csv_rows(path, text) if suffix == ".csv" else _json_rows(path, text)
    if len(rows) > MAX_MANIFEST_PARCELS:
        raise ManifestError(f"{path}: {len(rows)} parcels; at most {MAX_MANIFEST_PARCELS}")
    parcels, errors = check_rows(rows, first_only=True, label_check=label_check)
    if errors:
        raise ManifestError(f"{path}: {errors[0]}")
    return parcels


@dataclass(frozen=True)
class RowError:
    """One bad field of one manifest row: `row` counts from 1, `field` is the field's name
    ("(row)" for the row as a whole), `message` says what is wrong (and what was given)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field}: {self.message}"


# A caller's own rule for a row's (valid, normalised) label: the error's message, or None.
# A partner's label ranges (central/partners/label_ranges.py) come in through it.
LabelCheck = Callable[[str], str | None]


def check_rows(
    rows: Sequence[Any], *, first_only: bool = False, label_check: LabelCheck | None = None
) -> tuple[list[ParcelAnnouncement], list[RowError]]:
    """Validate manifest rows (dicts of FIELDS) as `lockernet parcels import` does: each
    row's fields, no label twice, and each label past `label_check` if given. Returns the
    good rows' parcels and every bad field of every bad row (only the first, with
    `first_only`). The same rules for a file and for the partner API's JSON."""
    parcels: list[ParcelAnnouncement] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            errors.append(RowError(number, "(row)", "a parcel is an object"))
        else:
            try:
                parcel = ParcelAnnouncement.model_validate(row)
            except ValidationError as exc:
                for error in exc.errors():
                    field = ".".join(str(part) for part in error["loc"]) or "(row)"
                    message = f"{error['msg']}{_shown_value(row, field)}"
                    errors.append(RowError(number, field, message))
            else:
                refused = None if label_check is None else label_check(parcel.label)
                if parcel.label in first_row:
                    message = f"{parcel.label} is already on row {first_row[parcel.label]}"
                    errors.append(RowError(number, "label", message))
                elif refused is not None:
                    errors.append(RowError(number, "label", refused))
                else:
                    first_row[parcel.label] = number
                    parcels.append(parcel)
        if errors and first_only:
            break
    return parcels, errors


def _shown_value(row: dict[str, Any], field: str) -> str:
    if field not in row:
        return ""
    value = repr(row[field])
    return f" (got {value[:60]})"


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [f for f in FIELDS if f not in header and f not in OPTIONAL_FIELDS]
    if missing:
        raise ManifestError(f"{path}: header lacks column(s) {', '.join(missing)}")
    unknown = [f for f in header if f not in FIELDS]
    if unknown:
        raise ManifestError(f"{path}: unknown column(s) {', '.join(unknown)}")
    rows: list[dict[str, Any]] = []
    try:
        for number, row in enumerate(reader, start=1):
            if None in row or any(value is None for value in row.values()):
                raise ManifestError(
                    f"{path}: row {number} (line {reader.line_num}): has "
                    f"{'more' if None in row else 'fewer'} cells than the header"
                )
            rows.append(dict(row))
    except csv.Error as exc:
        raise ManifestError(f"{path}: line {reader.line_num}: {exc}") from None
    return rows


def _json_rows(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(document, dict) and "parcels" in document:
        document = document["parcels"]
    if not isinstance(document, list):
        raise ManifestError(f'{path}: expected a list of parcels or {{"parcels": [...]}}')
    for number, row in enumerate(document, start=1):
        if not isinstance(row, dict):
            raise ManifestError(f"{path}: row {number}: a parcel is an object")
    return document


def write_manifest(parcels: list[ParcelAnnouncement], path: str | Path) -> None:
    """Write parcels as .csv or .json (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    rows = [parcel.model_dump(mode="json") for parcel in parcels]
    if suffix == ".json":
        body = json.dumps({"parcels": rows}, indent=1) + "\n"
    elif suffix == ".csv":
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        body = buffer.getvalue()
    else:
        raise ManifestError(f"{path}: a manifest is a .csv or .json file, not {suffix or 'none'}")
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(body, encoding="utf-8", newline="")
    os.replace(temporary, path)


# ---------------------------------------------------------------------------- generator

# A day's mix of parcel sizes (cross-border e-commerce: mostly small) and weights per size.
PARCEL_SIZE_MIX: dict[SizeClass, float] = {
    SizeClass.S: 0.46,
    SizeClass.M: 0.29,
    SizeClass.L: 0.17,
    SizeClass.XL: 0.08,
}
WEIGHT_RANGE_KG: dict[SizeClass, tuple[float, float]] = {
    SizeClass.S: (0.05, 1.0),
    SizeClass.M: (0.2, 3.0),
    SizeClass.L: (0.5, 8.0),
    SizeClass.XL: (1.0, 20.0),
}
# What consumers ask for: a locker of their choice, a counter, home, or nothing said.
MODE_MIX: dict[DeliveryModePreference | None, float] = {
    "locker": 0.35,
    "counter": 0.12,
    "home": 0.18,
    None: 0.35,
}
# Addresses spread around the sites; a consumer's chosen site is among those near home.
ADDRESS_SPREAD_KM = 0.8
CHOSEN_SITE_NEARBY = 5
# Origins and S10 service prefixes of cross-border parcels; the rest carry platform ids.
S10_ORIGINS = ("CN", "MY", "KR", "JP", "US", "GB", "ID", "TH", "DE", "AU")
S10_PREFIXES = ("RR", "LZ", "CP", "EE", "UA", "LX")
S10_SHARE = 0.6
# Parcels of a day left their origin 12-60 hours earlier (the promise is 72 hours).
DISPATCH_AGE_S = (12 * 3600.0, 60 * 3600.0)
GIVEN_NAMES = (
    "Wei Ling",
    "Ahmad",
    "Priya",
    "Jun Jie",
    "Siti",
    "Rajesh",
    "Mei Hua",
    "Daniel",
    "Nurul",
    "Kavitha",
    "Hui Min",
    "Farid",
    "Grace",
    "Arjun",
    "Li Na",
    "Marcus",
)
FAMILY_NAMES = (
    "Tan",
    "Lim",
    "Lee",
    "Ng",
    "Wong",
    "Rahman",
    "Kumar",
    "Goh",
    "Chua",
    "Ong",
    "Ismail",
    "Nair",
    "Teo",
    "Koh",
    "Yusof",
    "Pillai",
)


def generate_manifest(
    network: Network, parcels: int, seed: int, start: float
) -> list[ParcelAnnouncement]:
    """`parcels` announcements for the day starting at `start` (Unix seconds), repeatably.

    Destinations are on land around the network's sites; labels are valid S10 or LP ids,
    all distinct.
    """
    if parcels < 0:
        raise ValueError("parcel count cannot be negative")
    rng = random.Random(seed)  # noqa: S311 - a seeded, repeatable model, not a secret
    sites = network.sites
    if not sites:
        raise ValueError("the network has no sites to deliver around")
    lockers = network.lockers()
    counters = network.counters()
    from central.capacity.placement import SpatialIndex

    locker_index = SpatialIndex(lockers)
    counter_index = SpatialIndex(counters)
    sizes = list(PARCEL_SIZE_MIX)
    size_weights = list(PARCEL_SIZE_MIX.values())
    modes = list(MODE_MIX)
    mode_weights = list(MODE_MIX.values())
    serials = rng.sample(range(10_000_000, 99_999_999), parcels)
    out: list[ParcelAnnouncement] = []
    for number in range(parcels):
        anchor = rng.choice(sites)
        lat, lon = random_point_near(rng, anchor.lat, anchor.lon, ADDRESS_SPREAD_KM)
        size = rng.choices(sizes, size_weights)[0]
        low, high = WEIGHT_RANGE_KG[size]
        mode = rng.choices(modes, mode_weights)[0]
        chosen: NetworkSite | None = None
        if mode in ("locker", "counter"):
            index = locker_index if mode == "locker" else counter_index
            near = index.nearest(lat, lon, CHOSEN_SITE_NEARBY)
            chosen = rng.choice(near)[1] if near else None
        if rng.random() < S10_SHARE:
            label = make_s10(rng.choice(S10_PREFIXES), serials[number], rng.choice(S10_ORIGINS))
        else:
            label = f"LP{serials[number]:08d}{rng.randrange(1_000_000):06d}"
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        out.append(
            ParcelAnnouncement(
                label=label,
                size=size,
                weight_kg=round(rng.uniform(low, high), 2),
                dest_postal_code=f"{anchor.postal_code[:2]}{rng.randrange(10_000):04d}",
                dest_lat=lat,
                dest_lon=lon,
                consumer_name=f"{given} {family}",
                consumer_phone=f"+65 {rng.choice('89')}{rng.randrange(10_000_000):07d}",
                consumer_email=(f"{given.split()[0].lower()}.{family.lower()}{number}@example.com"),
                preferred_mode=mode,
                preferred_site=chosen.id if chosen else None,
                dispatched_at=round(start - rng.uniform(*DISPATCH_AGE_S), 3),
            )
        )
    return out
