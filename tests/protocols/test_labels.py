"""Shipping-label ids: UPU S10 with its check digit (hardware.md §5) and platform ids."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import LabelError, ProtocolError
from protocols.labels import LabelKind, make_s10, parse_label, s10_check_digit

from .strategies import upper2

WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)  # hardware.md §5, written out again on purpose


def test_the_documented_example_is_valid() -> None:
    label = parse_label("RR123456785CN")
    assert (label.id, label.kind) == ("RR123456785CN", LabelKind.S10)
    assert make_s10("RR", 12345678, "CN") == "RR123456785CN"


def test_a_scanned_label_is_normalised() -> None:
    assert parse_label("  rr123456785cn\r\n").id == "RR123456785CN"


def test_a_wrong_check_digit_is_refused_naming_the_expected_digit() -> None:
    with pytest.raises(LabelError, match="check digit 4, expected 5"):
        parse_label("RR123456784CN")


def test_remainder_one_gives_check_digit_0() -> None:
    # 8*1+6*2+4*3+2*4+3*5+5*6+9*7+7*1 = 155 = 14*11 + 1: 11 - 1 = 10, written 0
    assert sum(w * int(d) for w, d in zip(WEIGHTS, "12345671", strict=True)) % 11 == 1
    assert s10_check_digit("12345671") == 0
    assert parse_label("RR123456710CN").kind == LabelKind.S10
    with pytest.raises(LabelError, match="expected 0"):
        parse_label("RR123456711CN")  # the naive 11 - 1 = 10 written as its last digit


def test_remainder_zero_gives_check_digit_5() -> None:
    # 8*1+6*2+4*3+2*4+3*5+5*6+9*7+7*4 = 176 = 16*11: 11 - 0 = 11, written 5
    assert sum(w * int(d) for w, d in zip(WEIGHTS, "12345674", strict=True)) % 11 == 0
    assert s10_check_digit("12345674") == 5
    assert parse_label("RR123456745CN").kind == LabelKind.S10
    with pytest.raises(LabelError, match="expected 5"):
        parse_label("RR123456740CN")


@pytest.mark.parametrize(
    "text", ["LP00123456789012", "lp12345678", "1234567890", "123456789012345678901234567890"]
)
def test_platform_ids_are_accepted(text: str) -> None:
    label = parse_label(text)
    assert (label.id, label.kind) == (text.upper(), LabelKind.PLATFORM)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "RR12345678CN",  # a digit short
        "R1123456785CN",
        "LP1234567",  # LP with too few digits
        "123456789",  # numeric, too short
        "1" * 31,  # numeric, too long
        "hello world",
        "RR123456785CN; DROP TABLE parcels",
        "RR١٢٣٤٥٦٧٨٥CN",  # Arabic-Indic digits are digits to Python, not on a label
        "LP١٢٣٤٥٦٧٨٩٠",
        "١٢٣٤٥٦٧٨٩٠١",
    ],
)
def test_junk_is_refused_with_label_error(text: str) -> None:
    with pytest.raises(LabelError):
        parse_label(text)


def test_a_non_text_label_is_refused() -> None:
    with pytest.raises(LabelError, match="text"):
        parse_label(12345678901)  # type: ignore[arg-type]


@settings(deadline=None, max_examples=1000)
@given(upper2, st.integers(0, 99_999_999), upper2)
def test_every_made_s10_id_parses_and_every_other_check_digit_is_refused(
    prefix: str, serial: int, country: str
) -> None:
    label_id = make_s10(prefix, serial, country)
    assert parse_label(label_id).id == label_id
    digits = f"{serial:08d}"
    remainder = sum(w * int(d) for w, d in zip(WEIGHTS, digits, strict=True)) % 11
    assert label_id[10] == str({0: 5, 1: 0}.get(remainder, 11 - remainder))
    for wrong in set("0123456789") - {label_id[10]}:
        with pytest.raises(LabelError, match=f"expected {label_id[10]}"):
            parse_label(label_id[:10] + wrong + label_id[11:])


@settings(deadline=None, max_examples=2000)
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[A-Za-z]{2}[0-9]{9}[A-Za-z]{2}", fullmatch=True),
        st.from_regex(r"(LP)?[0-9]{6,32}", fullmatch=True),
    )
)
def test_arbitrary_text_gives_a_label_or_label_error(text: str) -> None:
    try:
        label = parse_label(text)
    except ProtocolError as exc:
        assert isinstance(exc, LabelError)
    else:
        assert label.id.isascii()
        assert parse_label(label.id) == label
