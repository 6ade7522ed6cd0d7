"""The messages' texts per kind and language, and the renderer that fills in the facts.

Each language has a file here (en.py, ms.py, zh.py, ta.py) giving every message an e-mail
(subject and body) and an SMS with a short fallback; a message that can carry a link (a
pickup code's QR page for a consumer with no e-mail, a failed attempt's choice of place) also
has an SMS with the link and its short fallback. A rendered SMS that does not fit one message
(160 GSM-7 characters, or 70 UTF-16 units for Chinese and Tamil) falls back, in order: the
link text, its short form, the text without the link, its short form, and that one with the
site name cut to `SMS_SITE_NAME_CHARS`. `check_templates` proves at import that the last
always fits with the longest facts, and that a short link text in GSM-7 (English, Malay;
Tamil's code link) fits with the longest link (`LINK_MAX_CHARS`), so a template that cannot
fit fails at build time (the test suite imports it), never in front of a consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from central.notify.gsm import fits_one_sms, is_gsm7
from central.notify.kinds import MessageKind
from central.notify.templates.en import ENGLISH
from central.notify.templates.ms import MALAY
from central.notify.templates.ta import TAMIL
from central.notify.templates.texts import Facts, Language, Texts
from central.notify.templates.zh import CHINESE
from central.notify.wording import LANGUAGES, place, reason, when

__all__ = ["REQUIRED", "TEMPLATES", "Facts", "MissingFact", "Rendered", "Texts", "render"]

SMS_SITE_NAME_CHARS = 20
_LONGEST_LABEL = "X" * 32  # protocols.limits.LABEL_MAX_CHARS
_LONGEST_CODE = "7KQ2-M9XD"
# The longest link a GSM-7 short SMS is proven to carry: a public_url of up to 60
# characters with a code page's path (central/notify/code_links.py: "/c/", a label of up to
# 32, ".", 24). Chinese carries a link only when it fits (a public_url of about 30
# characters); else its text without it.
LINK_MAX_CHARS = 120

LANGUAGE_TEXTS: dict[str, Language] = {"en": ENGLISH, "ms": MALAY, "zh": CHINESE, "ta": TAMIL}
TEMPLATES: dict[str, dict[MessageKind, Texts]] = {
    code: dict(lang.texts) for code, lang in LANGUAGE_TEXTS.items()
}


@dataclass(frozen=True)
class Rendered:
    """A message ready to queue: the e-mail's subject and body, and the SMS."""

    subject: str
    email: str
    sms: str


# What each message needs from its caller's facts (beyond the parcel's label).
REQUIRED: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.READY_FOR_PICKUP: ("short_form", "site_name", "until"),
    MessageKind.REMINDER: ("site_name", "until"),
    MessageKind.EXPIRY: ("site_name",),
    MessageKind.REDIRECT: ("short_form", "site_name", "until"),
    MessageKind.FAILED_ATTEMPT: (),
    MessageKind.RETURN_RECEIVED: ("site_name",),
    MessageKind.OUT_FOR_DELIVERY: ("door_code", "until"),
    MessageKind.CODE_REISSUED: ("short_form", "site_name", "until"),
}


class MissingFact(ValueError):
    """A message's caller left out a fact its text needs."""


def render(
    message: MessageKind,
    language: str,
    label: str,
    facts: Facts,
    *,
    name: str | None,
    now: float,
) -> Rendered:
    """The texts of `message` in `language` (one of LANGUAGES) for parcel `label`.

    `facts`: "site_name", "site" (id), "site_kind" ("locker" | "counter"), "short_form",
    "until" and "at" (Unix s; "at" defaults to `now`), "reason" (a courier's reason code),
    "receipt", "door_code" (the courier's one-time code), "code_link" (the URL of the pickup
    code's QR page, for the SMS), "choice_link" and "choose_by" (Unix s: a failed attempt's
    invitation to choose where to collect; absent, the texts are as without them).
    Raises MissingFact naming the key when a fact the message needs is absent."""
    for key in REQUIRED[message]:
        if facts.get(key) in (None, ""):
            raise MissingFact(f"a {message.value} message needs the fact {key!r}")
    if facts.get("choice_link") and facts.get("choose_by") is None:
        raise MissingFact(f"a {message.value} message with a choice_link needs 'choose_by'")
    texts = TEMPLATES[language][message]
    values = _values(language, label, facts, name, now)
    link = values["choice_link"] if message is MessageKind.FAILED_ATTEMPT else values["code_link"]
    return Rendered(
        subject=Template(texts.subject).substitute(values),
        email=Template(texts.email).substitute(values),
        sms=_sms(texts, values, link, language),
    )


def _sms(texts: Texts, values: dict[str, str], link: str, language: str) -> str:
    """The first SMS form that fits one message (see the module)."""
    forms = [texts.sms_link, texts.sms_link_short] if link and texts.sms_link else []
    for form in [*forms, texts.sms, texts.sms_short]:
        sms = Template(form).substitute(values, link=link)
        if fits_one_sms(sms):
            return sms
    short_name = _cut(values["site_name"], SMS_SITE_NAME_CHARS)
    cut = values | {"sms_place": place(values["site_kind"], short_name, None, language)}
    return Template(texts.sms_short).substitute(cut, link=link)


def _values(
    language: str, label: str, facts: Facts, name: str | None, now: float
) -> dict[str, str]:
    site_name = str(facts.get("site_name") or facts.get("site") or "")
    site = facts.get("site")
    kind = "counter" if facts.get("site_kind") == "counter" else "locker"
    until, at, choose_by = facts.get("until"), facts.get("at"), facts.get("choose_by")
    words = LANGUAGE_TEXTS[language]
    greeting, anonymous = words.greeting
    choice_link = str(facts.get("choice_link") or "")
    choose = when(float(choose_by), language) if choose_by is not None else ""
    return {
        "label": label,
        "name": name or "",
        "greeting": Template(greeting).substitute(name=name) if name else anonymous,
        "site_name": site_name,
        "site_kind": kind,
        "place": place(kind, site_name, str(site) if site else None, language),
        "sms_place": place(kind, site_name, None, language),
        "how": words.how_counter if kind == "counter" else words.how_locker,
        "code": str(facts.get("short_form") or ""),
        "door_code": str(facts.get("door_code") or ""),
        "until": when(float(until), language) if until is not None else "",
        "at": when(float(at) if at is not None else now, language),
        "reason": reason(str(facts["reason"]) if facts.get("reason") else None, language),
        "receipt_line": words.receipt.format(facts["receipt"]) if facts.get("receipt") else "",
        "code_link": str(facts.get("code_link") or ""),
        "choice_link": choice_link,
        "choose_by": choose,
        "choice_line": (
            Template(words.choice).substitute(choose_by=choose, choice_link=choice_link)
            if choice_link
            else ""
        ),
    }


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 2] + ".."


def check_templates() -> None:
    """Fail (RuntimeError naming the template) if a language lacks a message, a short SMS
    cannot fit one message with the longest facts it may carry, a GSM-7 short link SMS
    cannot with the longest link, or an English or Malay SMS is not all GSM-7."""
    worst: dict[str, str | float | None] = {
        "site_name": "W" * SMS_SITE_NAME_CHARS,
        "site_kind": "counter",
        "short_form": _LONGEST_CODE,
        "door_code": "000000",
        "until": 1_796_000_000.0,  # a Wednesday in September: the longest day and month
        "at": 1_796_000_000.0,
        "choose_by": 1_796_000_000.0,
        "reason": "address_not_found",
    }
    for language in LANGUAGES:
        missing = set(MessageKind) - set(TEMPLATES[language])
        if missing:
            raise RuntimeError(f"{language} has no text for {sorted(missing)}")
        values = _values(language, _LONGEST_LABEL, worst, "N", 0.0)
        gsm7 = language in ("en", "ms")
        for message, texts in TEMPLATES[language].items():
            sms = Template(texts.sms_short).substitute(values, link="")
            if not fits_one_sms(sms):
                raise RuntimeError(f"the short SMS of {message.value}/{language} is too long")
            every = texts.sms + texts.sms_short + texts.sms_link + texts.sms_link_short
            if gsm7 and not is_gsm7(every):
                raise RuntimeError(f"the SMS of {message.value}/{language} is not GSM-7")
            if texts.sms_link_short and is_gsm7(texts.sms_link_short):
                linked = Template(texts.sms_link_short).substitute(
                    values, link="h" * LINK_MAX_CHARS
                )
                if not fits_one_sms(linked):
                    raise RuntimeError(
                        f"the short link SMS of {message.value}/{language} is too long"
                    )


check_templates()
