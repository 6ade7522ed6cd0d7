"""The network central serves: sites (lockers and collection points), partners and couriers.

`generate_network` makes a Singapore-like network from a seed, the same one every time for
the same seed: lockers and counters clustered in the housing towns in proportion to their
population, four delivery partners, and couriers with home depots, all on the island's land.
`save_network` / `load_network` keep it as JSON, validated on the way in.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from central.capacity.geo import KM_PER_DEG_LAT, KM_PER_DEG_LON, on_land
from central.errors import CentralError
from protocols.limits import IDENT_PATTERN
from protocols.messages import SiteId, SiteKind, SizeClass

# ------------------------------------------------------------------------- compartments

# Inner (width, height, depth) of a compartment class in centimetres: the common parcel
# locker modules (a slim S for mailers, up to an XL for a carton of 48 x 60 x 60).
SIZE_DIMENSIONS_CM: dict[SizeClass, tuple[float, float, float]] = {
    SizeClass.S: (38.0, 9.0, 55.0),
    SizeClass.M: (38.0, 19.0, 55.0),
    SizeClass.L: (38.0, 39.0, 55.0),
    SizeClass.XL: (48.0, 60.0, 60.0),
}
# What a compartment floor and a courier lifting it into a locker will bear.
MAX_LOCKER_WEIGHT_KG = 20.0
# Smallest first: best fit walks this order.
SIZE_ORDER: tuple[SizeClass, ...] = (SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL)
SIZE_RANK: dict[SizeClass, int] = {size: rank for rank, size in enumerate(SIZE_ORDER)}


def size_for(
    width_cm: float, height_cm: float, depth_cm: float, weight_kg: float
) -> SizeClass | None:
    """The smallest compartment class a parcel fits in (any rotation), or None if none does.

    A parcel heavier than MAX_LOCKER_WEIGHT_KG, or with a non-positive dimension, fits none.
    """
    dims = (width_cm, height_cm, depth_cm)
    if not all(math.isfinite(d) and d > 0 for d in dims) or not math.isfinite(weight_kg):
        return None
    if weight_kg <= 0 or weight_kg > MAX_LOCKER_WEIGHT_KG:
        return None
    parcel = sorted(dims)
    for size in SIZE_ORDER:
        inner = sorted(SIZE_DIMENSIONS_CM[size])
        if all(p <= c for p, c in zip(parcel, inner, strict=True)):
            return size
    return None


def fits(parcel: SizeClass, compartment: SizeClass) -> bool:
    return SIZE_RANK[compartment] >= SIZE_RANK[parcel]


# ------------------------------------------------------------------------------- models

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
PostalCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{2,9}$")]
PartnerId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
CourierId = Annotated[str, Field(pattern=IDENT_PATTERN)]  # a badge's courier id is an Ident
Name = Annotated[str, Field(min_length=1, max_length=120)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NetworkSite(_Model):
    """A locker bank (compartments with doors) or a staffed collection point (shelves)."""

    id: SiteId
    kind: SiteKind
    name: Name
    lat: Latitude
    lon: Longitude
    postal_code: PostalCode
    compartments: dict[SizeClass, Annotated[int, Field(ge=0, le=2000)]] = Field(
        default_factory=dict, description="compartments per size class (lockers only)"
    )
    shelf_capacity: int = Field(default=0, ge=0, description="parcels on shelves (counters)")

    @model_validator(mode="after")
    def _capacity_matches_kind(self) -> NetworkSite:
        if self.kind is SiteKind.LOCKER:
            if sum(self.compartments.values()) == 0 or self.shelf_capacity:
                raise ValueError(f"locker {self.id} needs compartments and no shelf capacity")
        elif self.compartments or self.shelf_capacity == 0:
            raise ValueError(f"counter {self.id} needs shelf capacity and no compartments")
        return self

    @property
    def total_compartments(self) -> int:
        return sum(self.compartments.values())


class Partner(_Model):
    """A delivery partner: its price, its service level and how much it can carry a day."""

    id: PartnerId
    name: Name
    cost_per_parcel: float = Field(gt=0, le=1000, description="SGD per parcel")
    on_time_rate: float = Field(ge=0, le=1, description="share delivered within the promise")
    daily_capacity: int = Field(ge=0)


class Courier(_Model):
    """One courier of a partner, starting the day at a home depot."""

    id: CourierId
    partner: PartnerId
    depot_lat: Latitude
    depot_lon: Longitude
    capacity: int = Field(ge=0, description="parcels per day")


class Network(_Model):
    sites: list[NetworkSite]
    partners: list[Partner]
    couriers: list[Courier]

    @model_validator(mode="after")
    def _consistent(self) -> Network:
        for what, ids in (
            ("site", [s.id for s in self.sites]),
            ("partner", [p.id for p in self.partners]),
            ("courier", [c.id for c in self.couriers]),
        ):
            duplicate = _first_duplicate(ids)
            if duplicate is not None:
                raise ValueError(f"{what} id {duplicate!r} appears more than once")
        partners = {p.id for p in self.partners}
        for courier in self.couriers:
            if courier.partner not in partners:
                raise ValueError(f"courier {courier.id} names unknown partner {courier.partner!r}")
        return self

    @cached_property
    def site_by_id(self) -> dict[str, NetworkSite]:
        return {site.id: site for site in self.sites}

    @cached_property
    def partner_by_id(self) -> dict[str, Partner]:
        return {partner.id: partner for partner in self.partners}

    def lockers(self) -> list[NetworkSite]:
        return [s for s in self.sites if s.kind is SiteKind.LOCKER]

    def counters(self) -> list[NetworkSite]:
        return [s for s in self.sites if s.kind is SiteKind.COUNTER]


def _first_duplicate(ids: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    return None


class NetworkFileError(CentralError, ValueError):
    """A network file that cannot be read or is not a valid network. Names the file."""


def load_network(path: str | Path) -> Network:
    """Read and validate a network file; NetworkFileError saying what is wrong where."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NetworkFileError(f"{path}: cannot read network file: {exc.strerror}") from None
    try:
        return Network.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise NetworkFileError(
            f"{path}: not a valid network at {where}: {first['msg']} "
            f"({exc.error_count()} error(s) in all)"
        ) from None


def save_network(network: Network, path: str | Path) -> None:
    """Write the network as JSON, atomically (a reader never sees half a file)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(network.model_dump_json(indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


# ---------------------------------------------------------------------------- generator


class Town(NamedTuple):
    """A planning area: where people live, its population and its postal sectors."""

    name: str
    lat: float
    lon: float
    population_k: int
    sectors: tuple[int, ...]


# Centres, residents (thousands) and the first two digits of their postal codes.
TOWNS: tuple[Town, ...] = (
    Town("Bedok", 1.3236, 103.9273, 280, (46, 47)),
    Town("Tampines", 1.3526, 103.9447, 270, (52,)),
    Town("Jurong West", 1.3404, 103.7090, 260, (64,)),
    Town("Woodlands", 1.4382, 103.7890, 255, (73,)),
    Town("Sengkang", 1.3868, 103.8914, 250, (54,)),
    Town("Hougang", 1.3612, 103.8863, 230, (53,)),
    Town("Yishun", 1.4304, 103.8354, 225, (76,)),
    Town("Punggol", 1.3984, 103.9072, 190, (82,)),
    Town("Choa Chu Kang", 1.3840, 103.7470, 190, (68,)),
    Town("Ang Mo Kio", 1.3691, 103.8454, 160, (56,)),
    Town("Bukit Batok", 1.3590, 103.7637, 160, (65,)),
    Town("Bukit Merah", 1.2819, 103.8239, 150, (15, 16)),
    Town("Pasir Ris", 1.3721, 103.9474, 150, (51,)),
    Town("Bukit Panjang", 1.3774, 103.7719, 140, (67,)),
    Town("Toa Payoh", 1.3343, 103.8563, 120, (31,)),
    Town("Serangoon", 1.3554, 103.8679, 120, (55,)),
    Town("Geylang", 1.3201, 103.8918, 110, (38, 39)),
    Town("Kallang", 1.3100, 103.8651, 100, (33, 20)),
    Town("Sembawang", 1.4491, 103.8185, 105, (75,)),
    Town("Queenstown", 1.2942, 103.7861, 95, (14,)),
    Town("Clementi", 1.3162, 103.7649, 90, (12, 13)),
    Town("Bishan", 1.3526, 103.8352, 90, (57,)),
    Town("Jurong East", 1.3329, 103.7436, 80, (60,)),
    Town("Tanglin", 1.3080, 103.8170, 60, (24, 25, 26)),
    Town("Bukit Timah", 1.3294, 103.8021, 60, (27, 28, 58, 59)),
    Town("Marine Parade", 1.3020, 103.9072, 45, (44, 43)),
    Town("Novena", 1.3204, 103.8438, 45, (30, 32)),
    Town("Downtown", 1.2830, 103.8513, 40, (1, 4, 5, 6, 7, 18, 19)),
    Town("Orchard", 1.3048, 103.8318, 30, (22, 23)),
    Town("Changi", 1.3400, 103.9650, 25, (48, 49, 50)),
    Town("Seletar", 1.4040, 103.8690, 20, (79, 80)),
    Town("Tuas", 1.3200, 103.6500, 10, (62, 63)),
)

# How far (km, one standard deviation) homes spread around a town centre.
TOWN_SPREAD_KM = 1.1
# Draws before giving up on finding land near a town: a bad outline, not bad luck.
MAX_PLACEMENT_TRIES = 1000

# Locker compartments by class, and how many compartments a locker bank has.
LOCKER_SIZE_MIX: dict[SizeClass, float] = {
    SizeClass.S: 0.38,
    SizeClass.M: 0.32,
    SizeClass.L: 0.20,
    SizeClass.XL: 0.10,
}
LOCKER_COMPARTMENTS_MIN = 24
LOCKER_COMPARTMENTS_MODE = 54
LOCKER_COMPARTMENTS_MAX = 132
# Parcels a staffed collection point's shelves hold.
COUNTER_SHELF_MIN = 20
COUNTER_SHELF_MAX = 150


class PartnerTemplate(NamedTuple):
    id: str
    name: str
    cost: float
    on_time: float
    daily_capacity: int
    courier_share: float


# A national post (cheap, big, slower), two express carriers (dear, punctual) and a
# pick-up-point operator (cheapest, smallest). Capacities add up to ~20% over a
# 200,000-parcel day, so no partner can take everything it would be cheapest for.
PARTNERS: tuple[PartnerTemplate, ...] = (
    PartnerTemplate("natpost", "National Post", 2.10, 0.930, 85_000, 0.34),
    PartnerTemplate("swiftx", "Swift Express", 3.40, 0.985, 60_000, 0.24),
    PartnerTemplate("straitx", "Strait Express", 2.85, 0.970, 55_000, 0.22),
    PartnerTemplate("kampung", "Kampung Points", 1.70, 0.950, 42_000, 0.20),
)
# Couriers of a partner together can carry this much more than the partner's daily
# capacity (so that the partner's own limit binds, not only each courier's).
COURIER_CAPACITY_SLACK = (0.95, 1.35)

SITE_KIND_PREFIX = {SiteKind.LOCKER: "L", SiteKind.COUNTER: "C"}
COUNTER_HOSTS = ("Mart", "Pharmacy", "Post Office", "Minimart", "Petrol Station", "Bookshop")


def _town_weights() -> list[float]:
    return [float(town.population_k) for town in TOWNS]


def random_point_near(
    rng: random.Random, lat: float, lon: float, spread_km: float
) -> tuple[float, float]:
    """A point on land around (lat, lon), Gaussian with `spread_km`; never in the water."""
    for _ in range(MAX_PLACEMENT_TRIES):
        candidate_lat = lat + rng.gauss(0.0, spread_km) / KM_PER_DEG_LAT
        candidate_lon = lon + rng.gauss(0.0, spread_km) / KM_PER_DEG_LON
        if on_land(candidate_lat, candidate_lon):
            return round(candidate_lat, 6), round(candidate_lon, 6)
    raise RuntimeError(f"no land within {spread_km} km of {lat}, {lon}: is the outline wrong?")


def random_town_point(rng: random.Random) -> tuple[Town, float, float]:
    town = rng.choices(TOWNS, weights=_town_weights())[0]
    lat, lon = random_point_near(rng, town.lat, town.lon, TOWN_SPREAD_KM)
    return town, lat, lon


def postal_code_in(rng: random.Random, town: Town) -> str:
    return f"{rng.choice(town.sectors):02d}{rng.randrange(10_000):04d}"


def _locker_compartments(rng: random.Random) -> dict[SizeClass, int]:
    total = round(
        rng.triangular(LOCKER_COMPARTMENTS_MIN, LOCKER_COMPARTMENTS_MAX, LOCKER_COMPARTMENTS_MODE)
    )
    counts: dict[SizeClass, int] = {}
    for size, share in LOCKER_SIZE_MIX.items():
        # Banks differ: a module more or fewer of each class around the typical mix.
        counts[size] = max(1, round(total * share * rng.uniform(0.75, 1.25)))
    return counts


def generate_network(
    seed: int, lockers: int = 500, counters: int = 1600, couriers: int = 600
) -> Network:
    """A Singapore-like network, the same for the same arguments."""
    if min(lockers, counters, couriers) < 0:
        raise ValueError("site and courier counts cannot be negative")
    if max(lockers, counters) > 9999:
        raise ValueError("at most 9,999 lockers and 9,999 counters (four-digit site ids)")
    rng = random.Random(seed)  # noqa: S311 - a seeded, repeatable model, not a secret
    sites: list[NetworkSite] = []
    per_town: dict[str, int] = {}
    for kind, count in ((SiteKind.LOCKER, lockers), (SiteKind.COUNTER, counters)):
        for number in range(1, count + 1):
            town, lat, lon = random_town_point(rng)
            per_town[town.name] = per_town.get(town.name, 0) + 1
            if kind is SiteKind.LOCKER:
                name = f"{town.name} Locker {per_town[town.name]}"
                compartments, shelf = _locker_compartments(rng), 0
            else:
                name = f"{town.name} {rng.choice(COUNTER_HOSTS)} {per_town[town.name]}"
                compartments, shelf = {}, rng.randint(COUNTER_SHELF_MIN, COUNTER_SHELF_MAX)
            sites.append(
                NetworkSite(
                    id=f"{SITE_KIND_PREFIX[kind]}{number:04d}",
                    kind=kind,
                    name=name,
                    lat=lat,
                    lon=lon,
                    postal_code=postal_code_in(rng, town),
                    compartments=compartments,
                    shelf_capacity=shelf,
                )
            )
    partners = [
        Partner(
            id=t.id,
            name=t.name,
            cost_per_parcel=t.cost,
            on_time_rate=t.on_time,
            daily_capacity=t.daily_capacity,
        )
        for t in PARTNERS
    ]
    courier_list: list[Courier] = []
    shares = [t.courier_share for t in PARTNERS]
    counts = _split(couriers, shares)
    number = 0
    for template, count in zip(PARTNERS, counts, strict=True):
        if count == 0:
            continue
        slack = rng.uniform(*COURIER_CAPACITY_SLACK)
        mean_capacity = template.daily_capacity * slack / count
        for _ in range(count):
            number += 1
            _, lat, lon = random_town_point(rng)
            courier_list.append(
                Courier(
                    id=f"K{number:04d}",
                    partner=template.id,
                    depot_lat=lat,
                    depot_lon=lon,
                    capacity=max(1, round(mean_capacity * rng.uniform(0.7, 1.3))),
                )
            )
    return Network(sites=sites, partners=partners, couriers=courier_list)


def _split(total: int, shares: list[float]) -> list[int]:
    """Split `total` by `shares` into integers that add up exactly (largest remainder)."""
    exact = [total * share / sum(shares) for share in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
