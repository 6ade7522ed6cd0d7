"""Consumers' return labels (protocols.tokens.ReturnLabel): signed like a pickup code, for
one site or any, each refusal with its own reason; any scanned text is a label or a refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import ProtocolError, TokenRefused
from protocols.errors import RefusalReason
from protocols.tokens import ANY_SITE, RETURN_PREFIX, ReturnLabel
from tests.protocols.test_tokens import (
    BASE32,
    DAY,
    MAX_QR_VERSION,
    NOW,
    OTHER_SIGNER,
    SIGNER,
    SITE,
    VERIFIER,
    field_texts,
    nonces,
    pickup,
    qr_version,
    raw_of,
    refusal,
    text_of,
)

LABEL = "RR123456785SG"


def label(site: str = SITE, expires_at: int = NOW + 14 * DAY, signer: object = SIGNER) -> str:
    found = ReturnLabel("ret-0123456789abcdef", LABEL, site, "M", expires_at, b"\x03" * 8)
    return signer.return_label(found)  # type: ignore[attr-defined, no-any-return]


def test_a_return_label_verifies_at_its_site_or_anywhere_when_for_any_site() -> None:
    found = VERIFIER.return_label(label(), SITE, NOW)
    assert (found.return_id, found.label, found.size) == ("ret-0123456789abcdef", LABEL, "M")
    assert found.label_id == "03" * 8
    assert VERIFIER.return_label(label(site=ANY_SITE), "L0777", NOW).site == ANY_SITE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (lambda: label(site="L0002"), RefusalReason.WRONG_SITE),
        (lambda: label(expires_at=NOW), RefusalReason.EXPIRED),
        (lambda: label(signer=OTHER_SIGNER), RefusalReason.BAD_SIGNATURE),
        (pickup, RefusalReason.WRONG_KIND),
        (lambda: label()[:-9], RefusalReason.MALFORMED),
    ],
    ids=["other_site", "expired", "forged", "a_pickup_code", "cut_short"],
)
def test_a_return_label_that_is_not_good_here_is_refused_with_its_reason(text, reason) -> None:
    assert refusal(lambda: VERIFIER.return_label(text(), SITE, NOW)) is reason


def test_a_return_label_is_never_a_pickup_code_even_with_its_prefix_swapped() -> None:
    assert refusal(lambda: VERIFIER.pickup_code(label(), SITE, NOW)) is RefusalReason.WRONG_KIND
    swapped = text_of("LNP:", raw_of(label()))
    assert refusal(lambda: VERIFIER.pickup_code(swapped, SITE, NOW)) is RefusalReason.WRONG_KIND


def test_a_return_label_fits_a_qr_code_a_phone_screen_shows_well() -> None:
    assert qr_version(label()) <= MAX_QR_VERSION


@settings(deadline=None, max_examples=300)
@given(field_texts, st.sampled_from(["S", "M", "L", "XL"]), st.integers(NOW + 1, 2**32 - 1), nonces)
def test_every_return_label_round_trips(site: str, size: str, expires: int, nonce: bytes) -> None:
    found = ReturnLabel("ret-1", LABEL, site, size, expires, nonce)
    text = SIGNER.return_label(found)
    assert text.startswith(RETURN_PREFIX) and set(text[4:]) <= set(BASE32)
    assert VERIFIER.return_label(text, site, NOW) == found


@settings(deadline=None, max_examples=1000)
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet=BASE32 + "=", max_size=200).map(lambda t: RETURN_PREFIX + t),
    ),
    st.floats(0, 2**33, allow_nan=False),
)
def test_arbitrary_scanned_text_gives_a_return_label_or_a_refusal(text: str, now: float) -> None:
    try:
        VERIFIER.return_label(text, SITE, now)
    except ProtocolError as exc:
        assert isinstance(exc, TokenRefused)
        assert isinstance(exc.reason, RefusalReason)
