"""A contact's address as the queue stores it and opt-outs match it."""

from __future__ import annotations

import re

from central.errors import CentralError
from central.notify.kinds import Channel

_PHONE = re.compile(r"^\+?[0-9]{8,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SINGAPORE_PREFIX = "+65"


def recipient_for(channel: Channel, address: str | None) -> str | None:
    """The normal form of `address` on `channel`, or None when it is absent or not an
    address there: e-mail lower-cased; a phone number in E.164 without spaces or dashes,
    Singapore's +65 before a local 8-digit number."""
    if not address:
        return None
    text = address.strip()
    if channel is Channel.EMAIL:
        return text.lower() if _EMAIL.match(text) else None
    digits = re.sub(r"[\s().-]", "", text)
    if not _PHONE.match(digits):
        return None
    if digits.startswith("+"):
        return digits
    if len(digits) == 8:
        return SINGAPORE_PREFIX + digits
    return "+" + digits


class BadAddress(CentralError, ValueError):
    """Neither an e-mail address nor a phone number (a ValueError too, for callers that
    validate input with ValueError)."""


def normal_recipient(address: str) -> tuple[Channel, str]:
    """An address a consumer typed (an e-mail or a phone number) with its channel. Raises
    ValueError naming it when it is neither."""
    channel = Channel.EMAIL if "@" in address else Channel.SMS
    recipient = recipient_for(channel, address)
    if recipient is None:
        raise BadAddress(f"{address!r} is neither an e-mail address nor a phone number")
    return channel, recipient
