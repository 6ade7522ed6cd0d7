"""Every message in every language: the facts it names, one SMS, a clear error for a gap."""

from __future__ import annotations

import pytest

from central.notify import MessageKind
from central.notify.gsm import fits_one_sms, sms_units
from central.notify.templates import MissingFact, render
from central.notify.wording import LANGUAGES

AT = 1_800_000_000.0  # Fri 15 Jan 16:00 SGT
FACTS = {
    "short_form": "7KQ2-M9XD",
    "site_name": "Tampines Hub",
    "site": "L0001",
    "site_kind": "counter",
    "until": AT + 86_400,
    "reason": "nobody_home",
    "receipt": "R-0042",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("message", list(MessageKind))
def test_every_message_renders_and_its_sms_is_one_message(
    message: MessageKind, language: str
) -> None:
    texts = render(message, language, "LN0000000001SG", FACTS, name="Mei", now=AT)
    assert texts.subject and "Mei" in texts.email
    assert fits_one_sms(texts.sms), (texts.sms, sms_units(texts.sms))
    if message in (MessageKind.READY_FOR_PICKUP, MessageKind.REDIRECT):
        assert "7KQ2-M9XD" in texts.email and "7KQ2-M9XD" in texts.sms


def test_a_long_site_name_falls_back_to_the_short_sms_with_the_name_cut() -> None:
    name = "Punggol Waterway Community Centre " * 4
    facts = FACTS | {"site_name": name}
    texts = render(MessageKind.READY_FOR_PICKUP, "en", "X" * 32, facts, name=None, now=AT)
    cut = name[:18] + ".."
    expected = f"Parcel at the counter of {cut}. Code 7KQ2-M9XD. Collect by Sat 16 Jan 16:00 SGT"
    assert texts.sms == expected
    assert fits_one_sms(texts.sms)
    assert name in texts.email  # the e-mail has room for all of it


def test_gsm7_extension_characters_count_twice_and_other_scripts_70() -> None:
    assert sms_units("a" * 160) == (160, 160)
    assert sms_units("{" * 80) == (160, 160) and not fits_one_sms("{" * 81)
    assert sms_units("取件" * 35) == (70, 70) and not fits_one_sms("取件" * 35 + "a")


def test_a_missing_fact_is_named() -> None:
    with pytest.raises(MissingFact, match="a ready_for_pickup message needs the fact 'short_form'"):
        render(
            MessageKind.READY_FOR_PICKUP,
            "en",
            "L1",
            {"site_name": "Hub", "until": AT},
            name=None,
            now=AT,
        )
