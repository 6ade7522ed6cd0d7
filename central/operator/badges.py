"""Courier badges: issued (signed and registered), listed, revoked at every site.

A badge is a protocols.tokens CourierBadge signed with central's key: a site verifies it
offline, so the register in the store is what lets an operator see and revoke them. A
revocation is a RevokeBadge command queued as a durable task to every site in the same
transaction that marks the badge revoked; the task is resent until each site has accepted
it (central.sites.commands.MUST_ANSWER) or the badge has expired anyway, and the site keeps
refusing it until its valid_until, online or not.
"""

from __future__ import annotations

import io
import math
import secrets
from dataclasses import dataclass, replace

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from central.errors import CentralError
from central.sites.network import Network
from central.sites.revocations import queue_revocation
from central.store import CentralStore, StoreView
from central.store.queries.badges import BadgeRecord
from protocols.localtime import day_and_time
from protocols.tokens import MAX_FIELD_LENGTH, NONCE_LENGTH, CourierBadge, TokenSigner

__all__ = [
    "BadgeError",
    "BadgeRecord",
    "IssuedBadge",
    "UnknownBadge",
    "check_courier",
    "issue_badge",
    "list_badges",
    "render_badge_png",
    "revoke_badge",
]

DAY_S = 86_400
# A badge longer than a year outlives the partner contracts it stands for; renew instead.
MAX_BADGE_DAYS = 366
# The badge's times are 32-bit Unix seconds (protocols.tokens packs them as u32).
MAX_TOKEN_TIME = 2**32 - 1
# The QR image: pixels per module, the quiet zone the QR standard requires, the caption.
QR_BOX_PIXELS = 8
QR_QUIET_MODULES = 4
CAPTION_FONT_PIXELS = 28
CAPTION_MARGIN_PIXELS = 10


class BadgeError(CentralError):
    """A badge that cannot be issued or revoked as asked; the message says why."""


class UnknownBadge(BadgeError):
    """A badge id central never issued."""

    def __init__(self, badge_id: str) -> None:
        self.badge_id = badge_id
        super().__init__(f"badge {badge_id} is not known (lockernet badge list --all shows them)")


@dataclass(frozen=True)
class IssuedBadge:
    """A badge as issued: `text` is what the scanner reads (LNB:...), `record` its register
    entry."""

    text: str
    record: BadgeRecord


def _check_name(what: str, value: str) -> str:
    value = value.strip()
    if not value or len(value.encode("utf-8")) > MAX_FIELD_LENGTH:
        raise BadgeError(f"{what} {value!r} must be 1-{MAX_FIELD_LENGTH} bytes of text")
    return value


def check_courier(network: Network | None, courier: str, partner: str) -> None:
    """BadgeError unless `courier` is a courier of `partner` in the network file (the
    couriers' register: central knows no other): naming the courier or partner it does not
    know, or the partner the courier works for. `network` None: central's config names no
    network file, so no courier can be checked, and none is issued a badge."""
    if network is None:
        raise BadgeError(
            "central's config names no network file (network.file): central cannot tell "
            "which couriers exist, so it issues no badge"
        )
    partners = network.partner_by_id
    if partner not in partners:
        raise BadgeError(
            f"partner {partner!r} is not in the network file (its partners: "
            f"{', '.join(sorted(partners))})"
        )
    found = next((c for c in network.couriers if c.id == courier), None)
    if found is None:
        raise BadgeError(f"courier {courier!r} is not in the network file's couriers")
    if found.partner != partner:
        raise BadgeError(
            f"courier {courier} delivers for {found.partner}, not {partner} (network file)"
        )


def issue_badge(
    store: CentralStore,
    signer: TokenSigner,
    *,
    courier: str,
    partner: str,
    days: float,
    actor: str,
    now: float,
    network: Network | None,
) -> IssuedBadge:
    """Sign a badge for `courier` of `partner`, valid from `now` (Unix seconds) for `days`
    days, and register it as issued by `actor`. BadgeError for an empty or too long name
    (over 64 bytes), days outside (0, 366], or a courier that is not `partner`'s in
    `network` (`check_courier`); nothing is written then."""
    courier = _check_name("courier", courier)
    partner = _check_name("partner", partner)
    if not math.isfinite(days) or not 0 < days <= MAX_BADGE_DAYS:
        raise BadgeError(f"--days {days} must be more than 0 and at most {MAX_BADGE_DAYS}")
    check_courier(network, courier, partner)
    valid_from = int(now)
    valid_until = int(now + days * DAY_S)
    if valid_until > MAX_TOKEN_TIME:
        raise BadgeError(f"a badge cannot be valid past {MAX_TOKEN_TIME} (Unix seconds)")
    nonce = secrets.token_bytes(NONCE_LENGTH)
    badge = CourierBadge(courier, partner, valid_from, valid_until, nonce)
    text = signer.courier_badge(badge)
    record = BadgeRecord(
        badge_id=badge.badge_id,
        courier=courier,
        partner=partner,
        valid_from=float(valid_from),
        valid_until=float(valid_until),
        issued_at=now,
        issued_by=actor,
    )
    with store.transaction() as session:
        session.add_badge(record)
    return IssuedBadge(text=text, record=record)


def list_badges(
    view: StoreView, *, include_revoked: bool = False, courier: str | None = None
) -> list[BadgeRecord]:
    """The register's badges, oldest issue first: unrevoked ones (expired included) unless
    `include_revoked`, of `courier` only if given."""
    return view.list_badges(include_revoked=include_revoked, courier=courier)


def revoke_badge(store: CentralStore, *, badge_id: str, actor: str, now: float) -> BadgeRecord:
    """Revoke a badge: marked revoked by `actor` at `now`, and (unless it has expired) a
    RevokeBadge command queued to every site in the same transaction. Returns the revoked
    record. UnknownBadge for an id central never issued; BadgeError if it was revoked
    already (nothing changes)."""
    badge_id = badge_id.strip().lower()
    with store.transaction() as session:
        found = session.get_badge(badge_id)
        if found is None:
            raise UnknownBadge(badge_id)
        if found.revoked_at is not None:
            raise BadgeError(
                f"badge {badge_id} was revoked already, at {day_and_time(found.revoked_at)} "
                f"by {found.revoked_by}"
            )
        session.revoke_badge(badge_id, actor, now)
        if found.valid_until > now:  # an expired badge is refused everywhere anyway
            for site in session.list_sites():
                queue_revocation(session, site.site, badge_id, found.valid_until, now)
    return replace(found, revoked_at=now, revoked_by=actor)


def render_badge_png(issued: IssuedBadge) -> bytes:
    """The badge's QR image (PNG) with the courier, partner and expiry printed under it."""
    qr = qrcode.QRCode(
        version=None,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=QR_BOX_PIXELS,
        border=QR_QUIET_MODULES,
    )
    qr.add_data(issued.text)
    qr.make(fit=True)
    symbol = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    record = issued.record
    caption = f"{record.courier} ({record.partner}) until {day_and_time(record.valid_until)}"
    font = ImageFont.load_default(size=CAPTION_FONT_PIXELS)
    left, top, right, bottom = font.getbbox(caption)
    width = max(symbol.width, (right - left) + 2 * CAPTION_MARGIN_PIXELS)
    canvas = Image.new("L", (width, symbol.height + bottom - top + 2 * CAPTION_MARGIN_PIXELS), 255)
    canvas.paste(symbol, ((width - symbol.width) // 2, 0))
    ImageDraw.Draw(canvas).text(
        ((width - (right - left)) // 2 - left, symbol.height + CAPTION_MARGIN_PIXELS - top),
        caption,
        fill=0,
        font=font,
    )
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
