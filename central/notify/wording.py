"""The words around the facts, per language: places, times, reasons.

Times are the network's local time (Asia/Singapore), written the way each language reads a
date. A language not known here falls back to English.
"""

from __future__ import annotations

from protocols.localtime import ZONE_LABEL, local_datetime

LANGUAGES = ("en", "ms", "zh", "ta")
DEFAULT_LANGUAGE = "en"

_MS_DAYS = ("Isn", "Sel", "Rab", "Kha", "Jum", "Sab", "Ahd")
_MS_MONTHS = ("Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ogo", "Sep", "Okt", "Nov", "Dis")
_ZH_DAYS = ("一", "二", "三", "四", "五", "六", "日")
# Tamil SMS count UTF-16 units (70 to a message) and Tamil day and month names take many:
# Singapore's day/month order in digits is read by all.

_REASONS = {
    "en": {
        "nobody_home": "nobody was home",
        "address_not_found": "the address could not be found",
        "refused": "the parcel was refused",
    },
    "ms": {
        "nobody_home": "tiada orang di rumah",
        "address_not_found": "alamat tidak ditemui",
        "refused": "bungkusan ditolak",
    },
    "zh": {
        "nobody_home": "家中无人",
        "address_not_found": "找不到地址",
        "refused": "包裹被拒收",
    },
    "ta": {
        "nobody_home": "வீட்டில் யாரும் இல்லை",
        "address_not_found": "முகவரி கிடைக்கவில்லை",
        "refused": "பார்சல் மறுக்கப்பட்டது",
    },
}


def language_of(tag: str | None) -> str:
    """The language messages are written in for a contact's IETF tag ("zh-SG" -> "zh");
    English for none or one without templates."""
    primary = (tag or "").split("-")[0].split("_")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def when(at: float, language: str) -> str:
    """`at` (Unix s) as a consumer reads it in `language`: "Mon 30 Nov 18:00 SGT",
    "Isn 30 Nov 18:00 SGT", "11月30日(周一) 18:00", "30/11 18:00"."""
    local = local_datetime(at)
    if language == "ms":
        day = _MS_DAYS[local.weekday()]
        month = _MS_MONTHS[local.month - 1]
        return f"{day} {local.day:02d} {month} {local:%H:%M} {ZONE_LABEL}"
    if language == "zh":
        return f"{local.month}月{local.day}日(周{_ZH_DAYS[local.weekday()]}) {local:%H:%M}"
    if language == "ta":
        return f"{local:%d/%m %H:%M}"
    return local.strftime(f"%a %d %b %H:%M {ZONE_LABEL}")


def place(kind: str | None, name: str, site: str | None, language: str) -> str:
    """Where the consumer goes, in the words that fit the site ("locker NAME (ID)", "the
    counter of NAME (ID)"); without the id when `site` is None (an SMS has no room)."""
    suffix = f" ({site})" if site else ""
    counter = kind == "counter"
    if language == "ms":
        return f"kaunter {name}{suffix}" if counter else f"loker {name}{suffix}"
    if language == "zh":
        return f"{name}{suffix}柜台" if counter else f"{name}{suffix}智能柜"
    if language == "ta":
        return f"{name}{suffix} கவுண்டர்" if counter else f"லாக்கர் {name}{suffix}"
    return f"the counter of {name}{suffix}" if counter else f"locker {name}{suffix}"


def reason(code: str | None, language: str) -> str:
    """A courier's reason for a failed attempt in words; an unknown one as given."""
    if not code:
        return ""
    return _REASONS.get(language, _REASONS["en"]).get(code, code.replace("_", " "))
