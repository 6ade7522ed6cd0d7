"""The messages' texts per kind and language: an e-mail (subject and body) and an SMS.

Each SMS has a full text and a short one. A rendered SMS that does not fit one message (160
GSM-7 characters, or 70 for Chinese) falls back to the short text, and that one with the site
name cut to `SMS_SITE_NAME_CHARS`. Every short text is checked at import against the longest
facts it can carry (`check_templates`), so a template that cannot fit fails at build time
(the test suite imports it), never in front of a consumer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template

from central.notify.gsm import fits_one_sms, is_gsm7
from central.notify.kinds import MessageKind
from central.notify.wording import LANGUAGES, place, reason, when

SMS_SITE_NAME_CHARS = 20
_LONGEST_LABEL = "X" * 32  # protocols.limits.LABEL_MAX_CHARS
_LONGEST_CODE = "7KQ2-M9XD"

Facts = Mapping[str, str | float | None]


@dataclass(frozen=True)
class Texts:
    subject: str
    email: str
    sms: str
    sms_short: str


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
}

_EN = {
    MessageKind.READY_FOR_PICKUP: Texts(
        "Your parcel $label is ready for pickup",
        "$greeting\n\nYour parcel $label is ready for pickup at $place.\n$how\n\n"
        "    $code\n\nPlease collect it before $until. After that it is sent back.\n",
        "Parcel $label is at $sms_place. Code $code. Collect by $until. Reply STOP to opt out",
        "Parcel at $sms_place. Code $code. Collect by $until",
    ),
    MessageKind.REMINDER: Texts(
        "Reminder: your parcel $label is waiting",
        "$greeting\n\nYour parcel $label is still waiting at $place.\nPlease collect it "
        "before $until with the code we sent you. After that it is sent back.\n",
        "Reminder: parcel $label waits at $sms_place until $until. Reply STOP to opt out",
        "Parcel waits at $sms_place until $until",
    ),
    MessageKind.EXPIRY: Texts(
        "Your parcel $label was not collected",
        "$greeting\n\nYour parcel $label was not collected from $place in time and is "
        "being sent back to the sender.\n",
        "Parcel $label was not collected from $sms_place and is sent back",
        "Parcel not collected from $sms_place; sent back",
    ),
    MessageKind.REDIRECT: Texts(
        "Your parcel $label now waits at $site_name",
        "$greeting\n\nWe could not deliver your parcel $label to your door, so it now waits "
        "for you at $place.\n$how\n\n    $code\n\nPlease collect it before $until.\n",
        "Parcel $label moved to $sms_place. Code $code. Collect by $until",
        "Parcel at $sms_place. Code $code. By $until",
    ),
    MessageKind.FAILED_ATTEMPT: Texts(
        "We could not deliver your parcel $label",
        "$greeting\n\nOur courier could not deliver your parcel $label at $at: $reason.\n"
        "We will take it to a locker or collection point near you and send you its code.\n",
        "Parcel $label not delivered at $at: $reason. We will send a pickup code",
        "Parcel not delivered: $reason. Pickup code follows",
    ),
    MessageKind.RETURN_RECEIVED: Texts(
        "We have your return $label",
        "$greeting\n\nYour return $label was dropped off at $place at $at.\n${receipt_line}"
        "Keep this message as your receipt; it goes back to the seller now.\n",
        "Return $label received at $sms_place, $at. Keep this as your receipt",
        "Return received at $sms_place, $at",
    ),
}

_MS = {
    MessageKind.READY_FOR_PICKUP: Texts(
        "Bungkusan $label sedia untuk diambil",
        "$greeting\n\nBungkusan anda $label sedia untuk diambil di $place.\n$how\n\n"
        "    $code\n\nSila ambil sebelum $until. Selepas itu ia dihantar balik.\n",
        "Bungkusan $label di $sms_place. Kod $code. Ambil sebelum $until. Balas STOP untuk henti",
        "Bungkusan di $sms_place. Kod $code. Ambil sebelum $until",
    ),
    MessageKind.REMINDER: Texts(
        "Peringatan: bungkusan $label menunggu",
        "$greeting\n\nBungkusan anda $label masih menunggu di $place.\nSila ambil sebelum "
        "$until dengan kod yang kami hantar. Selepas itu ia dihantar balik.\n",
        "Peringatan: bungkusan $label di $sms_place hingga $until. Balas STOP untuk henti",
        "Bungkusan di $sms_place hingga $until",
    ),
    MessageKind.EXPIRY: Texts(
        "Bungkusan $label tidak diambil",
        "$greeting\n\nBungkusan anda $label tidak diambil dari $place pada masanya dan "
        "dihantar balik kepada pengirim.\n",
        "Bungkusan $label tidak diambil dari $sms_place dan dihantar balik",
        "Bungkusan tidak diambil; dihantar balik",
    ),
    MessageKind.REDIRECT: Texts(
        "Bungkusan $label kini di $site_name",
        "$greeting\n\nKami tidak dapat menghantar bungkusan $label ke rumah anda; ia kini "
        "menunggu di $place.\n$how\n\n    $code\n\nSila ambil sebelum $until.\n",
        "Bungkusan $label kini di $sms_place. Kod $code. Ambil sebelum $until",
        "Bungkusan di $sms_place. Kod $code. Sebelum $until",
    ),
    MessageKind.FAILED_ATTEMPT: Texts(
        "Bungkusan $label tidak dapat dihantar",
        "$greeting\n\nKurier kami tidak dapat menghantar bungkusan $label pada $at: $reason.\n"
        "Kami akan membawanya ke loker atau kaunter berdekatan dan menghantar kodnya.\n",
        "Bungkusan $label tidak dihantar pada $at: $reason. Kod ambilan menyusul",
        "Bungkusan tidak dihantar: $reason. Kod menyusul",
    ),
    MessageKind.RETURN_RECEIVED: Texts(
        "Pulangan $label diterima",
        "$greeting\n\nPulangan anda $label diserahkan di $place pada $at.\n${receipt_line}"
        "Simpan mesej ini sebagai resit.\n",
        "Pulangan $label diterima di $sms_place, $at. Simpan sebagai resit",
        "Pulangan diterima di $sms_place, $at",
    ),
}

_ZH = {
    MessageKind.READY_FOR_PICKUP: Texts(
        "您的包裹 $label 可以取件了",
        "$greeting\n\n您的包裹 $label 已到达$place，可以取件。\n$how\n\n    $code\n\n"
        "请在 $until 前取件，逾期将退回寄件人。\n",
        "包裹$label已到$sms_place，取件码$code，请于$until前取件",
        "包裹已到$sms_place，取件码$code，$until前取",
    ),
    MessageKind.REMINDER: Texts(
        "提醒：您的包裹 $label 仍在等候",
        "$greeting\n\n您的包裹 $label 仍在$place等候。\n请在 $until 前凭我们发给您的取件码"
        "取件，逾期将退回。\n",
        "提醒：包裹$label在$sms_place等候至$until",
        "包裹在$sms_place等候至$until",
    ),
    MessageKind.EXPIRY: Texts(
        "您的包裹 $label 未被取走",
        "$greeting\n\n您的包裹 $label 未在期限内从$place取走，现退回寄件人。\n",
        "包裹$label未从$sms_place取走，已退回",
        "包裹未取走，已退回",
    ),
    MessageKind.REDIRECT: Texts(
        "您的包裹 $label 改至 $site_name 取件",
        "$greeting\n\n我们未能将包裹 $label 送到您家，现在它在$place等您。\n$how\n\n"
        "    $code\n\n请在 $until 前取件。\n",
        "包裹$label改至$sms_place，取件码$code，$until前取",
        "包裹在$sms_place，取件码$code，$until前取",
    ),
    MessageKind.FAILED_ATTEMPT: Texts(
        "包裹 $label 派送未成功",
        "$greeting\n\n快递员于 $at 未能派送包裹 $label：$reason。\n我们会将它送到您附近的智能柜"
        "或柜台，并发送取件码。\n",
        "包裹$label于$at派送未成功：$reason。将另发取件码",
        "派送未成功：$reason。将另发取件码",
    ),
    MessageKind.RETURN_RECEIVED: Texts(
        "已收到您的退货 $label",
        "$greeting\n\n您的退货 $label 已于 $at 投递到$place。\n${receipt_line}"
        "请保留此消息作为收据。\n",
        "退货$label已于$at在$sms_place收到，请保留作收据",
        "退货已在$sms_place收到，$at",
    ),
}

TEMPLATES: dict[str, dict[MessageKind, Texts]] = {"en": _EN, "ms": _MS, "zh": _ZH}

_GREETING = {"en": ("Hello $name,", "Hello,"), "ms": ("Salam $name,", "Salam,")}
_GREETING["zh"] = ("$name，您好：", "您好：")
_HOW = {
    ("en", "locker"): "Scan the QR code at the locker's scanner, or type this code:",
    ("en", "counter"): "Show the QR code at the counter; staff scan it, or can type this code:",
    ("ms", "locker"): "Imbas kod QR di pengimbas loker, atau taip kod ini:",
    ("ms", "counter"): "Tunjukkan kod QR di kaunter; staf mengimbasnya, atau menaip kod ini:",
    ("zh", "locker"): "请在智能柜的扫描器扫描二维码，或输入此取件码：",
    ("zh", "counter"): "请在柜台出示二维码，工作人员扫描或输入此取件码：",
}


_RECEIPT = {"en": "Receipt: {}\n", "ms": "Resit: {}\n", "zh": "收据编号：{}\n"}


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
    "until" and "at" (Unix s; "at" defaults to `now`), "reason" (a courier's reason code).
    Raises MissingFact naming the key when a fact the message needs is absent."""
    for key in REQUIRED[message]:
        if facts.get(key) in (None, ""):
            raise MissingFact(f"a {message.value} message needs the fact {key!r}")
    texts = TEMPLATES[language][message]
    values = _values(language, label, facts, name, now)
    sms = Template(texts.sms).substitute(values)
    if not fits_one_sms(sms):
        sms = Template(texts.sms_short).substitute(values)
    if not fits_one_sms(sms):
        short_name = _cut(str(values["site_name"]), SMS_SITE_NAME_CHARS)
        values["sms_place"] = place(values["site_kind"], short_name, None, language)
        sms = Template(texts.sms_short).substitute(values)
    return Rendered(
        subject=Template(texts.subject).substitute(values),
        email=Template(texts.email).substitute(values),
        sms=sms,
    )


def _values(
    language: str, label: str, facts: Facts, name: str | None, now: float
) -> dict[str, str]:
    site_name = str(facts.get("site_name") or facts.get("site") or "")
    site = facts.get("site")
    kind = "counter" if facts.get("site_kind") == "counter" else "locker"
    until, at = facts.get("until"), facts.get("at")
    greeting, anonymous = _GREETING[language]
    return {
        "label": label,
        "name": name or "",
        "greeting": Template(greeting).substitute(name=name) if name else anonymous,
        "site_name": site_name,
        "site_kind": kind,
        "place": place(kind, site_name, str(site) if site else None, language),
        "sms_place": place(kind, site_name, None, language),
        "how": _HOW[(language, kind)],
        "code": str(facts.get("short_form") or ""),
        "until": when(float(until), language) if until is not None else "",
        "at": when(float(at) if at is not None else now, language),
        "reason": reason(str(facts["reason"]) if facts.get("reason") else None, language),
        "receipt_line": _RECEIPT[language].format(facts["receipt"]) if facts.get("receipt") else "",
    }


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 2] + ".."


def check_templates() -> None:
    """Fail (RuntimeError naming the template) if a short SMS cannot fit one message with
    the longest facts it may carry, or an English or Malay SMS is not all GSM-7."""
    worst: dict[str, str | float | None] = {
        "site_name": "W" * SMS_SITE_NAME_CHARS,
        "site_kind": "counter",
        "short_form": _LONGEST_CODE,
        "until": 1_796_000_000.0,  # a Wednesday in September: the longest day and month
        "at": 1_796_000_000.0,
        "reason": "address_not_found",
    }
    for language in LANGUAGES:
        for message, texts in TEMPLATES[language].items():
            sms = Template(texts.sms_short).substitute(
                _values(language, _LONGEST_LABEL, worst, "N", 0.0)
            )
            if not fits_one_sms(sms):
                raise RuntimeError(f"the short SMS of {message.value}/{language} is too long")
            if language in ("en", "ms") and not is_gsm7(texts.sms + texts.sms_short):
                raise RuntimeError(f"the SMS of {message.value}/{language} is not GSM-7")


check_templates()
