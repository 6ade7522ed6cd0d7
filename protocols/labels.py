"""Shipping-label ids: UPU S10 with its check digit (hardware.md §5), and platform ids."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from protocols.errors import LabelError

S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_S10 = re.compile(r"([A-Z]{2})(\d{8})(\d)([A-Z]{2})", re.ASCII)
_S10_SHAPE = re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}", re.ASCII)
# E-commerce platforms: "LP" plus digits, or a long all-numeric id. re.ASCII: to Python,
# Arabic-Indic and other decimal digits match \d too, and they are not on any label.
_PLATFORM_LP = re.compile(r"LP\d{8,24}", re.ASCII)
_PLATFORM_NUMERIC = re.compile(r"\d{10,30}", re.ASCII)
MAX_LABEL_LENGTH = 32


class LabelKind(enum.StrEnum):
    S10 = "s10"
    PLATFORM = "platform"


@dataclass(frozen=True)
class ShippingLabel:
    """A validated, normalised label id."""

    id: str
    kind: LabelKind

    def __str__(self) -> str:
        return self.id


def s10_check_digit(serial: str) -> int:
    """The S10 check digit of an eight-digit serial number."""
    if len(serial) != 8 or not (serial.isascii() and serial.isdigit()):
        raise LabelError(f"an S10 serial number is eight digits, not {serial!r}")
    check = 11 - sum(w * int(d) for w, d in zip(S10_WEIGHTS, serial, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def parse_label(text: str) -> ShippingLabel:
    """Validate a label as scanned or typed; raise LabelError saying what is wrong."""
    if not isinstance(text, str):
        raise LabelError(f"a label id is text, not {type(text).__name__}")
    value = text.strip().upper()
    if not value:
        raise LabelError("empty label id")
    if len(value) > MAX_LABEL_LENGTH:
        raise LabelError(f"label id is {len(value)} characters; at most {MAX_LABEL_LENGTH}")
    if _S10_SHAPE.fullmatch(value):
        match = _S10.fullmatch(value)
        assert match is not None
        expected = s10_check_digit(match.group(2))
        if int(match.group(3)) != expected:
            raise LabelError(
                f"S10 id {value} has check digit {match.group(3)}, expected {expected}"
            )
        return ShippingLabel(value, LabelKind.S10)
    if _PLATFORM_LP.fullmatch(value) or _PLATFORM_NUMERIC.fullmatch(value):
        return ShippingLabel(value, LabelKind.PLATFORM)
    raise LabelError(
        f"{value!r} is neither a UPU S10 id (e.g. RR123456785CN) nor a platform id "
        "(LP plus 8-24 digits, or 10-30 digits)"
    )


def make_s10(prefix: str, serial: int, country: str) -> str:
    """Build a valid S10 id, e.g. make_s10("RR", 12345678, "CN") == "RR123456785CN"."""
    digits = f"{serial:08d}"
    return f"{prefix}{digits}{s10_check_digit(digits)}{country}"
