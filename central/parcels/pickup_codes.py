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
from pathlib import Path
from typing import Protocol

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from protocols.labels import parse_label
from protocols.localtime import day_and_time
from protocols.messages import SiteKind
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
# A consumer's code opens a door: only the service's user may read the files that carry it,
# whatever the umask of the shell that started the service.
PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700


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
    # A locker's scanner opens a door; at a counter, staff hand the parcel over.
    site_kind: SiteKind = SiteKind.LOCKER


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


def pickup_place(kind: SiteKind, site_name: str, site: str) -> str:
    """Where the consumer goes, in the words that fit the site: "locker NAME (ID)" or "the
    counter of NAME (ID)"."""
    if kind is SiteKind.COUNTER:
        return f"the counter of {site_name} ({site})"
    return f"locker {site_name} ({site})"


def notice_text(notice: PickupNotice) -> str:
    """The message to the consumer, in plain words: where to go, what to do there (a
    locker's scanner or a counter's staff), and the deadline in the network's local time
    ("Mon 30 Nov 18:00 SGT")."""
    issued = notice.issued
    until = day_and_time(issued.expires_at)
    greeting = f"Hello {notice.consumer_name}," if notice.consumer_name else "Hello,"
    place = pickup_place(notice.site_kind, notice.site_name, issued.site)
    if notice.site_kind is SiteKind.COUNTER:
        how = (
            f"Show the attached QR code at {place}; staff will scan it and hand you the "
            "parcel. If it will not scan, they can type this code:"
        )
    else:
        how = (
            f"Scan the attached QR code at the scanner of {place}; the door of your parcel's "
            "compartment opens. If it will not scan, ask support with this code:"
        )
    return (
        f"{greeting}\n\n"
        f"Your parcel {issued.parcel} is ready for pickup at {place}.\n"
        f"{how}\n\n"
        f"    {issued.short_form}\n\n"
        f"Please collect it before {until}. After that it is sent back.\n"
    )


class FolderNotifier:
    """The default notifier: writes `<label>.png` and `<label>.txt` into a folder.

    Files are written whole or not at all (a temporary file renamed into place), so a mail
    gateway polling the folder never picks up half an image. A reissue overwrites the old.
    Files are 0600 and a folder created here is 0700: a code in them opens a door.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def notify(self, notice: PickupNotice) -> Notification:
        make_private_folder(self.folder)
        rendered = render_qr(notice.issued)
        label = notice.issued.parcel
        image_path = self.folder / f"{label}.png"
        message_path = self.folder / f"{label}.txt"
        write_private(image_path, rendered.png)
        write_private(message_path, notice_text(notice).encode("utf-8"))
        return Notification(label, rendered.version, image_path, message_path)


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) if missing, the folder itself 0700. A folder that
    exists keeps its mode: the operator may have shared it with a mail gateway's group."""
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=PRIVATE_FOLDER_MODE)
    except FileExistsError:  # another process made it meanwhile
        return
    os.chmod(folder, PRIVATE_FOLDER_MODE)  # mkdir's mode is masked by the umask


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all, the file 0600 whatever the umask: a
    temporary file opened with that mode, synced and renamed into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        # A temporary file left by a crash keeps its old mode through O_CREAT: set it.
        os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
