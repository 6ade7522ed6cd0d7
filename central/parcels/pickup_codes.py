"""A consumer's pickup code: signed, rendered as a QR image, and sent through a notifier.

The code is a protocols.tokens pickup token, bound to site and parcel and time-limited; the
site verifies it offline with central's public key. The QR image carries the token text
exactly (upper-case base32, which a QR code stores in its compact alphanumeric mode), with
error correction M (15% of the symbol may be damaged or dirty), and prints the short
human-readable form under it for counter staff to type when a scanner fails.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from protocols.labels import parse_label
from protocols.tokens import NONCE_LENGTH, PickupCode, TokenSigner, short_form
from protocols.topics import check_site_id

# Pixels per QR module and the quiet zone (modules) the QR standard requires around it.
QR_BOX_PIXELS = 8
QR_QUIET_MODULES = 4
# The short form printed under the code.
CAPTION_FONT_PIXELS = 36
CAPTION_MARGIN_PIXELS = 12
# A token's expiry is a 32-bit Unix time (protocols.tokens packs it as u32).
MAX_EXPIRY = 2**32 - 1


@dataclass(frozen=True)
class IssuedCode:
    """A pickup code as issued: the token text, its short form and its id (no secret)."""

    text: str
    short_form: str
    code_id: str
    expires_at: int
    site: str
    parcel: str


def issue_code(
    signer: TokenSigner,
    site: str,
    parcel: str,
    expires_at: float,
    nonce: bytes | None = None,
) -> IssuedCode:
    """Sign a pickup code for `parcel` at `site`, valid until `expires_at` (Unix seconds).

    A fresh random nonce makes every issue a different code; a reissue therefore never
    revives a revoked one. Pass `nonce` only to reproduce a code in tests.
    """
    check_site_id(site)
    label = parse_label(parcel).id
    if not math.isfinite(expires_at) or not 0 < expires_at <= MAX_EXPIRY:
        raise ValueError(f"expiry {expires_at} is not a Unix time a pickup code can carry")
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_LENGTH)
    elif len(nonce) != NONCE_LENGTH:
        raise ValueError(f"a pickup code nonce is {NONCE_LENGTH} bytes, not {len(nonce)}")
    # Rounded down: a code never outlives the moment it was asked to expire at.
    code = PickupCode(site=site, parcel=label, expires_at=int(expires_at), nonce=nonce)
    text = signer.pickup_code(code)
    return IssuedCode(
        text=text,
        short_form=short_form(text),
        code_id=code.code_id,
        expires_at=code.expires_at,
        site=site,
        parcel=label,
    )


@dataclass(frozen=True)
class RenderedQr:
    png: bytes
    version: int  # QR symbol version (1-40): the size the code needed


def render_qr(issued: IssuedCode) -> RenderedQr:
    """The QR image (PNG) of a code with its short form printed under it."""
    qr = qrcode.QRCode(
        version=None,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=QR_BOX_PIXELS,
        border=QR_QUIET_MODULES,
    )
    qr.add_data(issued.text)
    qr.make(fit=True)
    symbol = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    font = ImageFont.load_default(size=CAPTION_FONT_PIXELS)
    left, top, right, bottom = font.getbbox(issued.short_form)
    caption_height = (bottom - top) + 2 * CAPTION_MARGIN_PIXELS
    width = max(symbol.width, (right - left) + 2 * CAPTION_MARGIN_PIXELS)
    canvas = Image.new("L", (width, symbol.height + caption_height), color=255)
    canvas.paste(symbol, ((width - symbol.width) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    # The caption sits below the quiet zone, so it never touches the symbol's margin.
    draw.text(
        ((width - (right - left)) // 2 - left, symbol.height + CAPTION_MARGIN_PIXELS - top),
        issued.short_form,
        fill=0,
        font=font,
    )
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return RenderedQr(png=buffer.getvalue(), version=int(qr.version))


def render_qr_png(issued: IssuedCode) -> bytes:
    """The PNG bytes of `render_qr`."""
    return render_qr(issued).png


@dataclass(frozen=True)
class PickupNotice:
    """What the consumer is told: where the parcel is, and the code that opens it."""

    issued: IssuedCode
    site_name: str
    consumer_name: str | None = None
    consumer_email: str | None = None
    consumer_phone: str | None = None


@dataclass(frozen=True)
class Notification:
    """What a notifier did: where it put the message, and the QR version used."""

    parcel: str
    qr_version: int
    image_path: Path | None = None
    message_path: Path | None = None


class Notifier(Protocol):
    """Delivers a pickup notice to the consumer (e-mail, SMS, app push, or a folder)."""

    def notify(self, notice: PickupNotice) -> Notification: ...


def notice_text(notice: PickupNotice) -> str:
    """The message to the consumer, in plain words."""
    issued = notice.issued
    until = datetime.fromtimestamp(issued.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    greeting = f"Hello {notice.consumer_name}," if notice.consumer_name else "Hello,"
    return (
        f"{greeting}\n\n"
        f"Your parcel {issued.parcel} is ready for pickup at {notice.site_name} "
        f"({issued.site}).\n"
        "Show the attached QR code to the scanner, or give this code at the counter:\n\n"
        f"    {issued.short_form}\n\n"
        f"Please collect it before {until}. After that it is sent back.\n"
    )


class FolderNotifier:
    """The default notifier: writes `<label>.png` and `<label>.txt` into a folder.

    Files are written whole or not at all (a temporary file renamed into place), so a mail
    gateway polling the folder never picks up half an image. A reissue overwrites the old.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def notify(self, notice: PickupNotice) -> Notification:
        self.folder.mkdir(parents=True, exist_ok=True)
        rendered = render_qr(notice.issued)
        label = notice.issued.parcel
        image_path = self.folder / f"{label}.png"
        message_path = self.folder / f"{label}.txt"
        _write_atomically(image_path, rendered.png)
        _write_atomically(message_path, notice_text(notice).encode("utf-8"))
        return Notification(label, rendered.version, image_path, message_path)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
