"""How long a text is as an SMS: GSM 03.38 septets, or UCS-2 units for other scripts.

One SMS carries 160 GSM-7 septets (a character of the extension table, such as `{` or `€`,
takes two), or 70 UCS-2 units once any character is outside GSM-7 (Chinese, Tamil).
"""

from __future__ import annotations

SMS_GSM7_LIMIT = 160
SMS_UCS2_LIMIT = 70

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED = "^{}\\[~]|€\f"
_GSM7 = frozenset(_BASIC)
_GSM7_EXTENDED = frozenset(_EXTENDED)


def is_gsm7(text: str) -> bool:
    """True if every character of `text` is in GSM-7's basic or extension table."""
    return all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text)


def sms_units(text: str) -> tuple[int, int]:
    """(units used, units one SMS holds): septets out of 160 for GSM-7 text, UTF-16 code
    units out of 70 otherwise."""
    if is_gsm7(text):
        return sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text), SMS_GSM7_LIMIT
    return len(text.encode("utf-16-le")) // 2, SMS_UCS2_LIMIT


def fits_one_sms(text: str) -> bool:
    """True if `text` goes out as a single SMS."""
    used, limit = sms_units(text)
    return used <= limit
