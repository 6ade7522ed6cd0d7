"""Pickup codes: the QR a consumer gets decodes to the issued code, and a site accepts it."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from central.parcels.pickup_codes import (
    FolderNotifier,
    IssuedCode,
    PickupNotice,
    issue_code,
    render_qr,
    render_qr_png,
)
from protocols.errors import LabelError, MessageError, RefusalReason, TokenRefused
from protocols.tokens import NONCE_LENGTH, TokenSigner, TokenVerifier, short_form

NOW = 1_750_000_000
THREE_DAYS = 3 * 86_400


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner.generate()


@pytest.fixture(scope="module")
def site_verifier(signer: TokenSigner) -> TokenVerifier:
    """What a site holds: only central's public key, as PEM."""
    return TokenVerifier.from_pem(signer.verifier().public_pem())


def decode(png: bytes) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))


@pytest.mark.parametrize(
    ("site", "parcel"),
    [("L0001", "RR123456785CN"), ("C1600", "LP00012345678901234567"), ("L0420", "1234567890123")],
)
def test_the_qr_decodes_to_exactly_the_issued_code_and_the_site_accepts_it(
    signer, site_verifier, site, parcel
) -> None:
    issued = issue_code(signer, site, parcel, NOW + THREE_DAYS)
    rendered = render_qr(issued)
    (barcode,) = decode(rendered.png)
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    assert barcode.text == issued.text
    assert barcode.ec_level == "M"
    assert isinstance(barcode.extra, dict)
    assert barcode.extra["Version"] == str(rendered.version)
    code = site_verifier.pickup_code(barcode.text, site=site, now=NOW + 60)
    assert (code.site, code.parcel, code.expires_at) == (site, parcel, NOW + THREE_DAYS)
    assert code.code_id == issued.code_id
    assert short_form(barcode.text) == issued.short_form


def test_the_code_opens_nothing_at_another_site_or_after_expiry(signer, site_verifier) -> None:
    issued = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    with pytest.raises(TokenRefused) as wrong_site:
        site_verifier.pickup_code(issued.text, site="L0002", now=NOW)
    assert wrong_site.value.reason is RefusalReason.WRONG_SITE
    with pytest.raises(TokenRefused) as expired:
        site_verifier.pickup_code(issued.text, site="L0001", now=NOW + THREE_DAYS)
    assert expired.value.reason is RefusalReason.EXPIRED


def test_a_code_from_another_centre_is_refused(site_verifier) -> None:
    forged = issue_code(TokenSigner.generate(), "L0001", "RR123456785CN", NOW + THREE_DAYS)
    with pytest.raises(TokenRefused) as refused:
        site_verifier.pickup_code(forged.text, site="L0001", now=NOW)
    assert refused.value.reason is RefusalReason.BAD_SIGNATURE


def test_each_issue_is_a_new_code(signer) -> None:
    first = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    second = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    assert first.text != second.text
    assert first.code_id != second.code_id
    assert first.short_form != second.short_form
    fixed = bytes(range(NONCE_LENGTH))
    assert issue_code(signer, "L0001", "RR123456785CN", NOW + 9, fixed).code_id == fixed.hex()


def test_the_short_form_is_printed_under_the_code(signer) -> None:
    issued = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    image = Image.open(io.BytesIO(render_qr_png(issued))).convert("L")
    (barcode,) = decode(render_qr_png(issued))
    symbol_bottom = max(point.y for point in (barcode.position.bottom_left,
                                              barcode.position.bottom_right))  # fmt: skip
    caption = image.crop((0, symbol_bottom + 40, image.width, image.height))
    assert caption.height > 20
    dark = sum(caption.histogram()[:128])
    assert dark > 100  # ink of eight characters and a dash


def test_a_smudged_code_still_scans(signer, site_verifier) -> None:
    issued = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    rendered = render_qr(issued)
    image = Image.open(io.BytesIO(rendered.png)).convert("L")
    modules = 17 + 4 * rendered.version
    box = 8
    quiet = 4 * box
    # A blot of 3 x 3 modules in the data area, away from the finder patterns.
    left = quiet + (modules // 2) * box
    ImageDraw.Draw(image).rectangle((left, left, left + 3 * box, left + 3 * box), fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    (barcode,) = decode(buffer.getvalue())
    assert barcode.text == issued.text


@pytest.mark.parametrize(
    "bad",
    [
        ("L 0001", "RR123456785CN", NOW, None, MessageError),
        ("L0001", "RR123456789CN", NOW, None, LabelError),
        ("L0001", "RR123456785CN", 0, None, ValueError),
        ("L0001", "RR123456785CN", 2.0**32, None, ValueError),
        ("L0001", "RR123456785CN", float("nan"), None, ValueError),
        ("L0001", "RR123456785CN", NOW, b"short", ValueError),
    ],
)
def test_bad_requests_issue_no_code(signer, bad) -> None:
    site, parcel, expires, nonce, error = bad
    with pytest.raises(error):
        issue_code(signer, site, parcel, expires, nonce)


def test_the_folder_notifier_writes_the_image_and_the_message(
    tmp_path, signer, site_verifier
) -> None:
    issued = issue_code(signer, "C0042", "RR123456785CN", NOW + THREE_DAYS)
    notifier = FolderNotifier(tmp_path / "outbox")
    notice = PickupNotice(issued, "Tampines Mart 7", consumer_name="Siti Rahman")
    sent = notifier.notify(notice)
    assert sent.image_path == tmp_path / "outbox" / "RR123456785CN.png"
    assert sent.message_path == tmp_path / "outbox" / "RR123456785CN.txt"
    assert 1 <= sent.qr_version <= 40
    assert sent.image_path is not None and sent.message_path is not None
    (barcode,) = decode(sent.image_path.read_bytes())
    site_verifier.pickup_code(barcode.text, site="C0042", now=NOW)
    message = sent.message_path.read_text()
    assert "Siti Rahman" in message
    assert "Tampines Mart 7" in message
    assert issued.short_form in message
    # Three days after Sun 15 Jun 23:06 in Singapore, when it must be collected.
    assert "Wed 18 Jun 23:06 SGT" in message
    assert issued.text not in message  # the full token travels only as the image
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        "RR123456785CN.png",
        "RR123456785CN.txt",
    ]


def test_a_reissued_code_replaces_the_old_files(tmp_path, signer) -> None:
    notifier = FolderNotifier(tmp_path)
    old = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    new = issue_code(signer, "L0001", "RR123456785CN", NOW + THREE_DAYS)
    notifier.notify(PickupNotice(old, "Bedok Locker 1"))
    sent = notifier.notify(PickupNotice(new, "Bedok Locker 1"))
    assert sent.image_path is not None
    (barcode,) = decode(sent.image_path.read_bytes())
    assert barcode.text == new.text
    assert isinstance(new, IssuedCode)
