"""Every message in every language: the facts it names, one SMS, a clear error for a gap; the
links an SMS carries (a code's QR page, a failed attempt's choice of place) when they fit."""

from __future__ import annotations

import pytest

from central.notify import MessageKind
from central.notify.gsm import fits_one_sms, sms_units
from central.notify.templates import MissingFact, render
from central.notify.wording import LANGUAGES, language_of, when

AT = 1_800_000_000.0  # Fri 15 Jan 16:00 SGT
FACTS: dict[str, str | float | None] = {
    "short_form": "7KQ2-M9XD",
    "site_name": "Tampines Hub",
    "site": "L0001",
    "site_kind": "counter",
    "until": AT + 86_400,
    "reason": "nobody_home",
    "receipt": "R-0042",
    "door_code": "048213",
}
LINK = "https://ln.example.sg/c/LN0000000001SG.AbCdEfGhIjKlMnOpQrStUvWx"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("message", list(MessageKind))
def test_every_message_renders_and_its_sms_is_one_message(
    message: MessageKind, language: str
) -> None:
    texts = render(message, language, "LN0000000001SG", FACTS, name="Mei", now=AT)
    assert texts.subject and "Mei" in texts.email
    assert fits_one_sms(texts.sms), (texts.sms, sms_units(texts.sms))
    if message in (MessageKind.READY_FOR_PICKUP, MessageKind.REDIRECT, MessageKind.CODE_REISSUED):
        assert "7KQ2-M9XD" in texts.email and "7KQ2-M9XD" in texts.sms
    # The door's one-time code is in its own message and no other.
    door = message is MessageKind.OUT_FOR_DELIVERY
    assert ("048213" in texts.email, "048213" in texts.sms) == (door, door)
    if door:
        assert when(AT + 86_400, language) in texts.email


@pytest.mark.parametrize("language", LANGUAGES)
def test_tamil_and_every_language_has_every_message_in_its_own_words(language: str) -> None:
    texts = render(MessageKind.READY_FOR_PICKUP, language, "LN1", FACTS, name=None, now=AT)
    tamil = any("\u0b80" <= ch <= "\u0bff" for ch in texts.email + texts.sms)
    assert tamil == (language == "ta")
    assert language_of("ta-SG") == "ta" and language_of("ta") == "ta"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "message", [MessageKind.READY_FOR_PICKUP, MessageKind.REDIRECT, MessageKind.CODE_REISSUED]
)
def test_a_code_link_goes_in_the_sms_when_it_fits_and_never_in_the_email(
    message: MessageKind, language: str
) -> None:
    label = "LN0000000001SG"
    texts = render(message, language, label, FACTS | {"code_link": LINK}, name="Mei", now=AT)
    assert fits_one_sms(texts.sms), (texts.sms, sms_units(texts.sms))
    assert LINK not in texts.email
    # 160 GSM-7 characters hold it (Tamil's short link text is the code and the link in
    # Latin letters); 70 Chinese ones do not, and the consumer still gets the short form.
    assert (LINK in texts.sms) == (language != "zh")
    # The link ends the SMS: no full stop a phone could take as part of it.
    assert texts.sms.endswith(LINK) or LINK not in texts.sms
    assert "7KQ2-M9XD" in texts.sms
    short = "https://ln.sg/c/LN0000000001SG.AbCdEfGhIjKlMnOpQrStUvWx"
    texts = render(message, language, label, FACTS | {"code_link": short}, name="Mei", now=AT)
    assert fits_one_sms(texts.sms) and short in texts.sms


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_failed_attempt_invites_the_choice_of_place_only_when_given_a_link(
    language: str,
) -> None:
    plain = render(MessageKind.FAILED_ATTEMPT, language, "LN1", FACTS, name="Mei", now=AT)
    choose_by = AT + 6 * 3600  # Fri 15 Jan 22:00 SGT
    link = "https://ln.sg/choose/LN1.Xy12"
    facts = FACTS | {"choice_link": link, "choose_by": choose_by}
    chosen = render(MessageKind.FAILED_ATTEMPT, language, "LN1", facts, name="Mei", now=AT)
    assert chosen.subject == plain.subject
    assert chosen.email.startswith(plain.email) and chosen.email != plain.email
    line = chosen.email[len(plain.email) :]
    assert link in line and when(choose_by, language) in line
    assert link in chosen.sms and fits_one_sms(chosen.sms)
    # Absent (or None), the texts are exactly as before the facts existed.
    none = render(
        MessageKind.FAILED_ATTEMPT, language, "LN1", FACTS | {"choice_link": None}, name="Mei",
        now=AT,
    )  # fmt: skip
    assert none == plain
    assert "https" not in plain.email + plain.sms


def test_the_english_texts_of_the_new_messages() -> None:
    label = "LN0000000001SG"
    out = render(MessageKind.OUT_FOR_DELIVERY, "en", label, FACTS, name=None, now=AT)
    assert out.sms == (
        f"Parcel {label} is out for delivery. Give this code to the courier at your door: "
        "048213. Valid until Sat 16 Jan 16:00 SGT"
    )
    assert "Give this code to the courier at your door" in out.email
    facts = FACTS | {"code_link": "https://ln.sg/c/x"}
    again = render(MessageKind.CODE_REISSUED, "en", label, facts, name=None, now=AT)
    assert again.sms == (
        "New code 7KQ2-M9XD at the counter of Tampines Hub. The old code no longer works. "
        "QR: https://ln.sg/c/x"
    )
    assert "The code we sent you before no longer works." in again.email
    choice = FACTS | {"choice_link": "https://ln.sg/k", "choose_by": AT + 3600}
    failed = render(MessageKind.FAILED_ATTEMPT, "en", label, choice, name=None, now=AT)
    assert failed.email.endswith(
        "You can choose where to collect it (a locker or a collection point) before "
        "Fri 15 Jan 17:00 SGT: https://ln.sg/k\n"
    )
    assert failed.sms == (
        f"Parcel {label} not delivered: nobody was home. Choose a locker or counter by "
        "Fri 15 Jan 17:00 SGT: https://ln.sg/k"
    )


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
