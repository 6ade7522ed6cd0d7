"""Signed tokens: pickup codes and courier badges, each refusal with its own reason."""

from __future__ import annotations

import base64

import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import ProtocolError, TokenRefused
from protocols.errors import RefusalReason
from protocols.labels import make_s10
from protocols.tokens import (
    CLOCK_SKEW_S,
    CourierBadge,
    PickupCode,
    TokenSigner,
    TokenVerifier,
    short_form,
    short_form_matches,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
SITE = "L0001"
PARCEL = "RR123456785CN"
# A phone screen shows a QR code of version 10 (57 x 57 modules) or less well enough for a
# kiosk scanner to read at arm's length; larger ones need a bigger, brighter screen.
MAX_QR_VERSION = 10
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

SIGNER = TokenSigner.generate()  # generating keys per test would only slow the tests down
VERIFIER = SIGNER.verifier()
OTHER_SIGNER = TokenSigner.generate()


def pickup(site: str = SITE, parcel: str = PARCEL, expires_at: int = NOW + 3 * DAY) -> str:
    return SIGNER.pickup_code(PickupCode(site, parcel, expires_at, b"\x01" * 8))


def badge(valid_from: int = NOW - DAY, valid_until: int = NOW + DAY) -> str:
    return SIGNER.courier_badge(CourierBadge("C042", "post", valid_from, valid_until, b"\x02" * 8))


def refusal(check: object) -> RefusalReason:
    assert callable(check)
    with pytest.raises(TokenRefused) as caught:
        check()
    assert caught.value.reason.value in str(caught.value)
    return caught.value.reason


def raw_of(text: str) -> bytes:
    encoded = text[4:]
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8))


def text_of(prefix: str, raw: bytes) -> str:
    return prefix + base64.b32encode(raw).decode().rstrip("=")


# ----------------------------------------------------------------------------- acceptance


def test_a_pickup_code_verifies_at_its_site_before_expiry() -> None:
    code = VERIFIER.pickup_code(pickup(), SITE, NOW)
    assert (code.site, code.parcel, code.expires_at) == (SITE, PARCEL, NOW + 3 * DAY)
    assert code.code_id == "01" * 8


def test_a_site_holding_only_the_public_pem_verifies_codes() -> None:
    site_side = TokenVerifier.from_pem(VERIFIER.public_pem())
    assert site_side.pickup_code(pickup(), SITE, NOW).parcel == PARCEL
    central_again = TokenSigner.from_pem(SIGNER.private_pem())
    assert (
        VERIFIER.pickup_code(
            central_again.pickup_code(PickupCode(SITE, PARCEL, NOW + DAY, b"\x03" * 8)), SITE, NOW
        ).expires_at
        == NOW + DAY
    )


def test_a_badge_verifies_in_its_window_and_tolerates_a_little_clock_skew() -> None:
    assert VERIFIER.courier_badge(badge(), NOW).courier == "C042"
    assert VERIFIER.courier_badge(badge(valid_from=NOW + 30), NOW).partner == "post"


# ------------------------------------------------------------------------------- refusals


def test_every_flipped_bit_of_a_pickup_code_is_refused() -> None:
    raw = raw_of(pickup())
    reasons: dict[int, set[RefusalReason]] = {}
    for index in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[index] ^= 1 << bit
            reason = refusal(
                lambda f=bytes(flipped): VERIFIER.pickup_code(text_of("LNP:", f), SITE, NOW)
            )
            reasons.setdefault(index, set()).add(reason)
    assert reasons[0] == {RefusalReason.MALFORMED}  # the format byte
    assert reasons[1] <= {RefusalReason.WRONG_KIND, RefusalReason.MALFORMED}
    # Expiry, nonce and signature (the last 4 + 8 + 64 bytes): only the signature says no.
    for index in range(len(raw) - 76, len(raw)):
        assert reasons[index] == {RefusalReason.BAD_SIGNATURE}, index


def test_every_flipped_bit_of_a_pickup_code_text_is_refused() -> None:
    text = pickup()
    for index in range(len(text)):
        for bit in range(8):
            flipped = text[:index] + chr(ord(text[index]) ^ (1 << bit)) + text[index + 1 :]
            with pytest.raises(TokenRefused):
                VERIFIER.pickup_code(flipped, SITE, NOW)


def test_the_unused_bits_of_the_last_character_do_not_make_a_second_valid_text() -> None:
    text = pickup()
    others = [text[:-1] + c for c in BASE32 if c != text[-1]]
    for other in others:
        assert refusal(lambda o=other: VERIFIER.pickup_code(o, SITE, NOW)) in {
            RefusalReason.MALFORMED,
            RefusalReason.BAD_SIGNATURE,
        }


def test_a_code_for_another_site_is_refused_as_wrong_site() -> None:
    assert refusal(lambda: VERIFIER.pickup_code(pickup(site="L0002"), SITE, NOW)) is (
        RefusalReason.WRONG_SITE
    )


def test_an_expired_code_is_refused_as_expired() -> None:
    text = pickup(expires_at=NOW)
    assert refusal(lambda: VERIFIER.pickup_code(text, SITE, NOW)) is RefusalReason.EXPIRED
    assert VERIFIER.pickup_code(text, SITE, NOW - 1).expires_at == NOW


def test_a_code_signed_by_another_key_is_refused_as_bad_signature() -> None:
    forged = OTHER_SIGNER.pickup_code(PickupCode(SITE, PARCEL, NOW + DAY, b"\x01" * 8))
    assert refusal(lambda: VERIFIER.pickup_code(forged, SITE, NOW)) is RefusalReason.BAD_SIGNATURE


def test_a_badge_passed_as_a_pickup_code_is_refused_as_wrong_kind() -> None:
    assert refusal(lambda: VERIFIER.pickup_code(badge(), SITE, NOW)) is RefusalReason.WRONG_KIND
    assert refusal(lambda: VERIFIER.courier_badge(pickup(), NOW)) is RefusalReason.WRONG_KIND
    # The kind inside the signed bytes counts too, not only the text's prefix.
    relabelled = "LNP:" + badge()[4:]
    assert refusal(lambda: VERIFIER.pickup_code(relabelled, SITE, NOW)) is (
        RefusalReason.WRONG_KIND
    )


def test_a_badge_before_its_window_is_refused_as_not_yet_valid() -> None:
    early = badge(valid_from=NOW + CLOCK_SKEW_S + 1)
    assert refusal(lambda: VERIFIER.courier_badge(early, NOW)) is RefusalReason.NOT_YET_VALID


def test_a_badge_after_its_window_is_refused_as_expired() -> None:
    late = badge(valid_from=NOW - 2 * DAY, valid_until=NOW)
    assert refusal(lambda: VERIFIER.courier_badge(late, NOW)) is RefusalReason.EXPIRED


def test_a_truncated_code_is_refused_as_malformed_wherever_it_was_cut() -> None:
    text = pickup()
    for length in range(len(text)):
        reason = refusal(lambda n=length: VERIFIER.pickup_code(text[:n], SITE, NOW))
        assert reason is RefusalReason.MALFORMED, length
    raw = raw_of(text)
    for length in range(len(raw)):
        short = text_of("LNP:", raw[:length])
        assert refusal(lambda s=short: VERIFIER.pickup_code(s, SITE, NOW)) is (
            RefusalReason.MALFORMED
        )


@pytest.mark.parametrize("text", ["", "hello", "lnp:" + "A" * 160, "RR123456785CN", "LNX:AAAA"])
def test_junk_is_refused_as_malformed(text: str) -> None:
    assert refusal(lambda: VERIFIER.pickup_code(text, SITE, NOW)) is RefusalReason.MALFORMED
    assert refusal(lambda: VERIFIER.courier_badge(text, NOW)) is RefusalReason.MALFORMED


@pytest.mark.parametrize("body", ["", "!!!!", "A" * 7, "A" * 160, "A" * 2000, "AAAAAAA="])
def test_junk_after_a_pickup_prefix_is_malformed_and_never_a_badge(body: str) -> None:
    text = "LNP:" + body
    assert refusal(lambda: VERIFIER.pickup_code(text, SITE, NOW)) is RefusalReason.MALFORMED
    assert refusal(lambda: VERIFIER.courier_badge(text, NOW)) is RefusalReason.WRONG_KIND


# ----------------------------------------------------------------- QR and the short form


def qr_version(text: str) -> int:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    version: int = qr.version
    return version


def test_a_typical_pickup_code_fits_a_qr_code_a_phone_screen_shows_well() -> None:
    # An S10 parcel at a site id like L0001: measured version 7 (45 x 45 modules).
    text = pickup(site="L0001", parcel=make_s10("RR", 12345678, "CN"))
    assert qr_version(text) <= MAX_QR_VERSION
    # Even the longest site id and platform parcel id stay within reach (measured: 9).
    longest = pickup(site="L" * 32, parcel="LP" + "9" * 24)
    assert qr_version(longest) <= MAX_QR_VERSION


def test_the_qr_code_reads_back_with_an_independent_decoder() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    text = pickup()
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4)
    qr.add_data(text)
    image = qr.make_image().get_image().convert("L")
    found = [result.text for result in zxingcpp.read_barcodes(image)]
    assert found == [text]
    assert VERIFIER.pickup_code(found[0], SITE, NOW).parcel == PARCEL


def test_the_short_form_is_read_out_forgivingly_and_matches_only_its_code() -> None:
    text = pickup()
    short = short_form(text)
    assert len(short) == 9 and short[4] == "-"
    assert set(short.replace("-", "")) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert short_form_matches(text, short)
    typed = short.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert short_form_matches(text, typed)
    assert not short_form_matches(pickup(parcel="RR123456745CN"), short)
    assert not short_form_matches(text, "ÄÖÜ-ßéè")  # typed junk is a mismatch, not a crash


# ------------------------------------------------------------------------------ hypothesis

field_texts = st.text(min_size=1, max_size=64).filter(lambda t: len(t.encode()) <= 64)
nonces = st.binary(min_size=8, max_size=8)


@settings(deadline=None, max_examples=300)
@given(field_texts, field_texts, st.integers(NOW + 1, 2**32 - 1), nonces)
def test_every_pickup_code_round_trips(site: str, parcel: str, expires: int, nonce: bytes) -> None:
    code = PickupCode(site, parcel, expires, nonce)
    text = SIGNER.pickup_code(code)
    assert text.startswith("LNP:")
    assert set(text[4:]) <= set(BASE32)  # QR alphanumeric mode: the compact one
    assert VERIFIER.pickup_code(text, site, NOW) == code


@settings(deadline=None, max_examples=300)
@given(field_texts, field_texts, st.integers(0, NOW), st.integers(NOW + 1, 2**32 - 1), nonces)
def test_every_badge_round_trips(
    courier: str, partner: str, valid_from: int, valid_until: int, nonce: bytes
) -> None:
    badge = CourierBadge(courier, partner, valid_from, valid_until, nonce)
    assert VERIFIER.courier_badge(SIGNER.courier_badge(badge), NOW) == badge


@st.composite
def damaged_codes(draw: st.DrawFn) -> str:
    """A real pickup code with one byte changed and maybe cut short."""
    raw = bytearray(raw_of(pickup()))
    raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(0, 255))
    return text_of("LNP:", bytes(raw))[: draw(st.integers(0, 200))]


scanned_texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=BASE32 + "=", max_size=200).map(lambda t: "LNP:" + t),
    st.text(alphabet=BASE32, max_size=200).map(lambda t: "LNB:" + t),
    damaged_codes(),
)


@settings(deadline=None, max_examples=2000)
@given(scanned_texts, st.floats(0, 2**33, allow_nan=False))
def test_arbitrary_scanned_text_gives_a_token_or_a_refusal(text: str, now: float) -> None:
    for verify in (
        lambda: VERIFIER.pickup_code(text, SITE, now),
        lambda: VERIFIER.courier_badge(text, now),
    ):
        try:
            verify()
        except ProtocolError as exc:
            assert isinstance(exc, TokenRefused)
            assert isinstance(exc.reason, RefusalReason)
    assert isinstance(short_form_matches(pickup(), text), bool)
