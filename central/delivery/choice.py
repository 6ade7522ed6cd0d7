"""The consumer's choice of site after a failed home delivery, within a window.

A failed attempt at the door (not a refusal) leaves the parcel `attempt_failed` on its
courier's van for `[delivery] choice_window_s`; the failed-attempt message carries a link,
`{[notify] public_url}/choose/{label}/{token}`, and the window's end ("choose_by"). The
link's page lists up to MAX_OPTIONS of the lockers and collection points nearest the
consumer's address (within CHOICE_RADIUS_KM) that have room for the parcel's size: name,
kind and distance, nothing of the consumer. A site chosen there is reserved and the parcel
REDIRECTED to it at once, by the same path as central's own redirect
(central/delivery/redirect.py `redirect_to`: reserve, tell the site, the REDIRECT step with
the courier); the REDIRECT task queued for the window's end then finds the parcel no longer
`attempt_failed` and leaves it. Without a choice that task places the parcel at the nearest
site with room, as it always did.

The token is an HMAC-SHA256 of the label and the failed attempt's key under the key of
`[notify] link_secret_file` (the unsubscribe links' key, central/notify/unsubscribe.py), cut
to 16 bytes: 22 URL-safe characters that only central can make, bound to one parcel and one
attempt. A token that is not the parcel's (forged, or another parcel's) is UnknownLink
(the routes answer 404, as for no parcel at all).

Choosing is safe to repeat: the same site again answers as the first did and changes
nothing. Every refusal changes nothing (its transaction is rolled back).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from central.capacity.geo import distance_km
from central.capacity.placement import CapacityView, DeliveryMode, Placement, PlacementRule
from central.capacity.reservations import SiteBusy, StoreCapacity
from central.delivery.door import choice_ends
from central.delivery.errors import (
    ChoiceBusy,
    ChoiceClosed,
    NoRoom,
    NotOffered,
    UnknownLink,
)
from central.delivery.redirect import BUSY_RETRIES, redirect_to
from central.errors import ConfigError
from central.notify.quiet import DEFAULT_QUIET_HOURS, QuietHours
from central.notify.unsubscribe import link_key
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.service.config import CentralConfig
from central.sites.network import SIZE_ORDER, SIZE_RANK
from central.store import CentralStore, ParcelRecord, SiteRecord, StoreSession, StoreView
from central.store.queries.deliveries import DeliveryAttemptRecord
from protocols.localtime import day_and_time
from protocols.messages import SiteKind, SizeClass

log = logging.getLogger(__name__)

PATH = "/choose"
# Sites a consumer is offered: enough to find one on the way to work, few enough to read.
MAX_OPTIONS = 8
# How far from the address a chosen site may be (km, straight line): farther than central
# places by itself (reservations.max_locker_distance_km, 3 km for counters), since the
# consumer may know a site on a daily route; not across the island.
CHOICE_RADIUS_KM = 5.0
TOKEN_BYTES = 16  # 128 bits of HMAC: 22 characters of URL-safe base64
# The longest label and token looked up at all (longer ones are nobody's: 404 at once).
MAX_LABEL = 64
MAX_TOKEN = 64
# The source of the REDIRECT step a choice makes: what a retried choice recognises.
CHOICE_SOURCE = "consumer's choice link"
FAILED = "failed"


def choice_token(key: bytes, label: str, attempt_key: str) -> str:
    """The link's token for parcel `label`'s failed attempt `attempt_key`: URL-safe
    base64, 22 characters. A label holds no newline, so the pair is read one way only."""
    digest = hmac.new(key, f"choice\n{label}\n{attempt_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode().rstrip("=")


def choice_url(public_url: str, key: bytes, label: str, attempt_key: str) -> str:
    """The link for a consumer to choose where the parcel goes (under the API's public
    address)."""
    return f"{public_url.rstrip('/')}{PATH}/{label}/{choice_token(key, label, attempt_key)}"


def window_of(config: CentralConfig) -> float:
    """The choice window (s) in force: `[delivery] choice_window_s`, or 0 without a
    `[notify] public_url` to make links under (no link, no choice)."""
    return config.delivery.choice_window_s if config.notify.public_url else 0.0


def link_for(config: CentralConfig, label: str, attempt_key: str) -> str | None:
    """The choice link for a failed attempt, or None when none is offered: no window, no
    `[notify] public_url` to link under, or a link key that cannot be read (logged: the
    courier's attempt is recorded all the same, and central redirects at once)."""
    public_url = config.notify.public_url
    if window_of(config) <= 0 or public_url is None:
        return None
    try:
        key = link_key(config.notify.link_secret_file)
    except ConfigError as exc:
        log.error("no choice link for parcel %s: %s", label, exc)
        return None
    return choice_url(public_url, key, label, attempt_key)


@dataclass(frozen=True)
class SiteOption:
    """A site the consumer may choose: what a consumer needs, nothing of the consumer's."""

    site: str
    name: str
    kind: SiteKind
    distance_km: float


@dataclass(frozen=True)
class Offer:
    """What the link shows: the sites to choose from, until `choose_by` (Unix s); or, once
    chosen through it, the site chosen (`options` empty)."""

    label: str
    choose_by: float
    options: list[SiteOption]
    chosen: SiteOption | None = None

    @property
    def choose_by_local(self) -> str:
        return day_and_time(self.choose_by)


@dataclass(frozen=True)
class Chosen:
    """A choice made: the parcel's state after it; `repeated` for the same choice again."""

    label: str
    site: SiteOption
    state: str
    repeated: bool


def fitting_sizes(site: SiteRecord, size: SizeClass) -> list[SizeClass]:
    """A locker's compartment classes a parcel of `size` fits, smallest first (placement's
    best fit, central/capacity/placement.py)."""
    return [s for s in SIZE_ORDER[SIZE_RANK[size] :] if site.compartments.get(s.value, 0)]


def has_room(site: SiteRecord, size: SizeClass, capacity: CapacityView) -> bool:
    """Whether `site` has room for a parcel of `size` now (a hint: reserving is the truth)."""
    if site.kind is SiteKind.LOCKER:
        return any(capacity.free_compartments(site.site, s) > 0 for s in fitting_sizes(site, size))
    return capacity.counter_room(site.site) > 0


def near(sites: Iterable[SiteRecord], lat: float, lon: float) -> list[tuple[float, SiteRecord]]:
    """(km, site) for every located site within CHOICE_RADIUS_KM of (lat, lon), nearest
    first (ties by id)."""
    found = [
        (distance_km(lat, lon, s.lat, s.lon), s)
        for s in sites
        if s.kind is not None and s.lat is not None and s.lon is not None
    ]
    found = [(d, s) for d, s in found if d <= CHOICE_RADIUS_KM]
    found.sort(key=lambda pair: (pair[0], pair[1].site))
    return found


def options_with_room(
    sites: Iterable[SiteRecord], record: ParcelRecord, capacity: CapacityView
) -> list[SiteOption]:
    """Up to MAX_OPTIONS sites near the parcel's address with room for it, nearest first
    (none when the address has no coordinates)."""
    if record.lat is None or record.lon is None:
        return []
    size = _size(record)
    options: list[SiteOption] = []
    for distance, site in near(sites, record.lat, record.lon):
        if has_room(site, size, capacity):
            options.append(_option(site, distance))
            if len(options) == MAX_OPTIONS:
                break
    return options


def reserve_at(
    site: SiteRecord, record: ParcelRecord, distance: float, capacity: CapacityView
) -> Placement | None:
    """Reserve room for the parcel at `site` (a locker: the smallest compartment class it
    fits that is free), as placement does for a consumer's chosen site; None if there is
    none. Only a reservation the capacity view granted is reported."""
    if site.kind is SiteKind.LOCKER:
        for size in fitting_sizes(site, _size(record)):
            if capacity.free_compartments(site.site, size) > 0 and capacity.reserve_compartment(
                site.site, size, record.label
            ):
                return Placement(
                    record.label,
                    DeliveryMode.LOCKER,
                    PlacementRule.CHOSEN_LOCKER,
                    site.site,
                    size,
                    distance,
                )
        return None
    if capacity.counter_room(site.site) > 0 and capacity.reserve_shelf(site.site, record.label):
        return Placement(
            record.label,
            DeliveryMode.COUNTER,
            PlacementRule.CHOSEN_COUNTER,
            site.site,
            None,
            distance,
        )
    return None


@dataclass
class Choices:
    """The choice links' logic over the store: `window_s` is `[delivery] choice_window_s`,
    `hold_s` a reservation's hold (`[reservations] hold_s`), `key` the link key."""

    store: CentralStore
    key: bytes
    window_s: float
    hold_s: float
    quiet: QuietHours = DEFAULT_QUIET_HOURS  # [notify] quiet_hours: the window opens after

    def offer(self, label: str, token: str, now: float) -> Offer:
        """What the link shows now. Raises UnknownLink (not the parcel's token) or
        ChoiceClosed (the window ended, or the parcel moved on) naming why."""
        with self.store.transaction() as session:
            attempt, record = self._linked(session, label, token)
            choose_by = choice_ends(attempt.at, self.window_s, self.quiet)
            chosen = self._chosen(session, record, attempt)
            if chosen is not None:
                return Offer(record.label, choose_by, [], chosen)
            self._check_open(session, record, choose_by, now)
            capacity = StoreCapacity(session, now, self.hold_s)
            options = options_with_room(session.list_sites(), record, capacity)
        return Offer(record.label, choose_by, options)

    def choose(self, label: str, token: str, site: str, now: float) -> Chosen:
        """Send the parcel to `site` now: reserved there and REDIRECTED with its courier.
        The same choice again answers as the first (`repeated`). Raises UnknownLink,
        ChoiceClosed (the window ended; redirected, returned or out again; another site
        chosen), NotOffered (no such site near the address), NoRoom (the site has none for
        the parcel now) or ChoiceBusy; nothing is changed then."""
        prelock: set[str] = set()
        for _ in range(BUSY_RETRIES):
            try:
                with self.store.transaction() as session:
                    capacity = StoreCapacity(session, now, self.hold_s)
                    capacity.prelock(prelock)
                    return self._choose(session, capacity, label, token, site_id=site, now=now)
            except SiteBusy as busy:
                # As central's own redirect: the next try waits for that site first.
                prelock |= {busy.site}
        raise ChoiceBusy(f"site {site} is busy: send the same choice again in a moment")

    def _choose(
        self,
        session: StoreSession,
        capacity: StoreCapacity,
        label: str,
        token: str,
        *,
        site_id: str,
        now: float,
    ) -> Chosen:
        attempt, record = self._linked(session, label, token)
        chosen = self._chosen(session, record, attempt)
        if chosen is not None:
            if chosen.site == site_id:
                return Chosen(record.label, chosen, record.state or "", repeated=True)
            raise ChoiceClosed(
                f"parcel {record.label} goes to {chosen.name} ({chosen.site}) as chosen "
                "already: a choice is made once"
            )
        choose_by = choice_ends(attempt.at, self.window_s, self.quiet)
        self._check_open(session, record, choose_by, now)
        claimed = session.claim_parcel(record.label, [ParcelState.ATTEMPT_FAILED.value])
        if claimed is None:  # moved on since it was read: say how
            self._check_open(session, record, choose_by, now)
            raise ChoiceClosed(f"parcel {record.label} is no longer waiting for a choice")
        site = session.get_site(site_id[:MAX_LABEL])
        distance = _distance(site, claimed)
        if site is None or distance is None or distance > CHOICE_RADIUS_KM:
            raise NotOffered(
                f"site {site_id[:MAX_LABEL]!r} is not a locker or collection point within "
                f"{CHOICE_RADIUS_KM:g} km of the delivery address: choose one the link lists"
            )
        placement = reserve_at(site, claimed, distance, capacity)
        if placement is None:
            raise NoRoom(
                f"{site.name or site.site} ({site.site}) has no room for parcel "
                f"{claimed.label} any more: choose another site"
            )
        updated = redirect_to(session, capacity, claimed, placement, now, source=CHOICE_SOURCE)
        log.info("parcel %s redirected to %s by its consumer's choice", claimed.label, site.site)
        return Chosen(claimed.label, _option(site, distance), updated.state or "", False)

    def _linked(
        self, view: StoreView, label: str, token: str
    ) -> tuple[DeliveryAttemptRecord, ParcelRecord]:
        """The failed attempt the token was made for, and its parcel; UnknownLink if the
        token is no attempt's of this parcel; ChoiceClosed if a later attempt came since."""
        unknown = UnknownLink("this link is not one we sent: check it against the message")
        if len(label) > MAX_LABEL or len(token) > MAX_TOKEN:
            raise unknown
        record = view.get_parcel(label)
        if record is None:
            raise unknown
        attempts = view.delivery_attempts(label)
        given = token.encode("ascii", "replace")
        for index, made in enumerate(attempts):
            if made.outcome != FAILED:
                continue
            mine = choice_token(self.key, label, made.attempt_key).encode()
            if hmac.compare_digest(mine, given):
                if index != len(attempts) - 1:
                    raise ChoiceClosed(
                        f"parcel {label} went out for delivery again after this attempt"
                    )
                return made, record
        raise unknown

    def _chosen(
        self, view: StoreView, record: ParcelRecord, attempt: DeliveryAttemptRecord
    ) -> SiteOption | None:
        """The site the consumer chose through this attempt's link, if the parcel still
        goes there (None: no choice made, or the parcel has left that site's way since)."""
        if record.site is None or not any(
            s.step == ParcelStep.REDIRECT and s.source == CHOICE_SOURCE and s.at >= attempt.at
            for s in view.steps(record.label)
        ):
            return None
        site = view.get_site(record.site)
        distance = _distance(site, record)
        if site is None or distance is None:
            return None
        return _option(site, distance)

    def _check_open(
        self, view: StoreView, record: ParcelRecord, choose_by: float, now: float
    ) -> None:
        """ChoiceClosed naming why, unless the parcel still waits for a choice in time."""
        state = record.state
        if state == ParcelState.RETURNED.value:
            raise ChoiceClosed(f"parcel {record.label} was returned to the sender")
        if state != ParcelState.ATTEMPT_FAILED.value:
            site = view.get_site(record.site) if record.site else None
            where = f" to {site.name or site.site}" if site is not None else ""
            raise ChoiceClosed(f"parcel {record.label} was sent on{where} already ({state})")
        if now >= choose_by:
            raise ChoiceClosed(
                f"the time to choose ended at {day_and_time(choose_by)}: parcel "
                f"{record.label} goes to the nearest locker or collection point with room"
            )


def _size(record: ParcelRecord) -> SizeClass:
    # Placement assumes M for a parcel of unknown size (central/capacity/reservations.py).
    return SizeClass(record.size or SizeClass.M.value)


def _distance(site: SiteRecord | None, record: ParcelRecord) -> float | None:
    if site is None or site.kind is None or site.lat is None or site.lon is None:
        return None
    if record.lat is None or record.lon is None:
        return None
    return distance_km(record.lat, record.lon, site.lat, site.lon)


def _option(site: SiteRecord, distance: float) -> SiteOption:
    assert site.kind is not None, "only located sites of a known kind are offered"
    return SiteOption(site.site, site.name or site.site, site.kind, round(distance, 2))
