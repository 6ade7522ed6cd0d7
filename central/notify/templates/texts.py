"""The shape of a message's texts in one language (the language files fill it in)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from central.notify.kinds import MessageKind

Facts = Mapping[str, str | float | None]


@dataclass(frozen=True)
class Texts:
    """One message in one language: the e-mail's subject and body, the SMS and its short
    fallback, and (for a message that can carry a link: a pickup code's QR page, a failed
    attempt's choice of place) the SMS with `$link` and its short fallback ("": no link
    form)."""

    subject: str
    email: str
    sms: str
    sms_short: str
    sms_link: str = ""
    sms_link_short: str = ""


@dataclass(frozen=True)
class Language:
    """What a language file gives: its texts, its greeting (with a name, without), how a
    code is used at a locker and at a counter, its receipt line and its choice line (a
    failed attempt's invitation to choose where to collect)."""

    texts: Mapping[MessageKind, Texts]
    greeting: tuple[str, str]
    how_locker: str
    how_counter: str
    receipt: str  # str.format with the receipt's number
    choice: str  # a Template over $choose_by and $choice_link
