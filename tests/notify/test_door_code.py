"""The consumer's one-time door code: sent by e-mail and SMS (a real SMTP server, a local
server playing the SMS provider) when a home parcel goes out, once per round, a new one the
next day; the courier delivers with it; it is in no other message and in no log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.capacity.reservations import Reservations
from central.delivery.door import FailReason, Outcome, ProofKind, attempt, send_out
from central.delivery.tokens import issue_token
from central.notify.config import EmailConfig, SmsConfig
from central.notify.quiet import DEFAULT_QUIET_HOURS
from central.notify.sender import NotificationSender
from central.notify.sms import HttpSmsTransport
from central.notify.smtp import SmtpTransport
from central.parcels.steps import announce
from central.service.config import parse_config
from central.sites import registry
from central.store import CentralStore
from central.store.open import open_store
from central.store.queries.deliveries import CourierTokenRecord
from protocols.clock import ManualClock
from protocols.localtime import day_and_time
from protocols.messages import SizeClass, SlotState
from tests.central.central_rig import announcement, label, small_network, snapshot
from tests.notify.servers import SmsProvider, SmtpServer

T0 = 1_800_000_000.0  # Fri 15 Jan 2027 16:00 SGT: outside the quiet hours
DAY = 86_400.0
CODE = re.compile(r"\b\d{6}\b")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    """The small network, and two home parcels placed (each with a courier)."""
    config = parse_config(
        {
            "store": {"path": str(tmp_path / "central.sqlite")},
            "keys": {"signing_key": str(tmp_path / "central-key.pem")},
        },
        "test config",
        environ={},
    )
    opened = open_store(config.store)
    with opened.transaction() as session:
        registry.load_network(session, small_network())
        registry.apply_snapshot(
            session, snapshot("L0001", [("A", SizeClass.S, SlotState.FREE, None)]), T0
        )
        for n in (1, 2):
            announce(session, announcement(n, preferred_mode="home"), T0)
    Reservations(opened, small_network(), 3600.0).place([label(1), label(2)], T0)
    yield opened
    opened.close()


def sender_for(
    store: CentralStore, clock: ManualClock, smtp: SmtpServer, sms: SmsProvider, tmp: Path
) -> NotificationSender:
    key = tmp / "sms-key"
    key.write_text(sms.api_key)
    email = EmailConfig(host=smtp.host, port=smtp.port, starttls=False, **{"from": "ln@ln.sg"})
    provider = SmsConfig(url=sms.url, api_key_file=key, sender="LockerNet")
    return NotificationSender(
        store,
        {"email": SmtpTransport(email), "sms": HttpSmsTransport(provider)},
        clock=clock,
        quiet=DEFAULT_QUIET_HOURS,
    )


def courier_token(store: CentralStore, n: int) -> CourierTokenRecord:
    with store.transaction() as session:
        record = session.get_parcel(label(n))
        assert record is not None and record.courier is not None
        partner = record.partner or "post"
        return issue_token(session, record.courier, partner, T0).record


def test_the_door_code_reaches_the_consumer_once_a_round_and_opens_the_delivery(
    store: CentralStore,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(T0)
    sender = sender_for(store, clock, smtp_server, sms_provider, tmp_path)
    token = courier_token(store, 1)
    with store.transaction() as session:
        [sent] = send_out(session, token, [label(1)], clock.now())
    with store.transaction() as session:  # the handheld's call retried: nothing more
        [again] = send_out(session, token, [label(1)], clock.now() + 5)
    assert sent.code is not None and again.code is None
    assert sender.run_due() == 2

    [mail] = smtp_server.inbox.messages
    [sms] = sms_provider.delivered.values()
    until = day_and_time(T0 + DAY)
    assert mail["Subject"] == f"Your parcel {label(1)} is out for delivery today"
    text = mail.get_content()
    assert "Give this code to the courier at your door" in text
    assert f"    {sent.code}\r\n" in text and f"The code is valid until {until}." in text
    assert sms["text"] == (
        f"Parcel {label(1)} is out for delivery. Give this code to the courier at your door: "
        f"{sent.code}. Valid until {until}"
    )
    # What the consumer reads out, the courier types in: the parcel is delivered.
    [told] = CODE.findall(sms["text"])
    with store.transaction() as session:
        done = attempt(
            session, token, label(1), "k-door", clock.now() + 600,
            outcome=Outcome.DELIVERED, proof_kind=ProofKind.CODE, proof=told,
        )  # fmt: skip
    assert done.record.state == "delivered"
    assert sent.code not in caplog.text


def test_a_second_round_the_next_day_sends_a_new_code_and_no_other_message_holds_one(
    store: CentralStore,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(T0)
    sender = sender_for(store, clock, smtp_server, sms_provider, tmp_path)
    token = courier_token(store, 2)
    with store.transaction() as session:
        [first] = send_out(session, token, [label(2)], clock.now())
        attempt(
            session, token, label(2), "k-nobody", clock.now() + 600,
            outcome=Outcome.FAILED, reason=FailReason.NOBODY_HOME,
        )  # fmt: skip
    clock.advance(DAY)
    with store.transaction() as session:
        [second] = send_out(session, token, [label(2)], clock.now())
    assert first.code is not None and second.code is not None
    while sender.run_due():
        pass

    with store.transaction() as session:
        rows = session.notifications(label(2))
    assert [(r.message, r.channel, r.status) for r in rows] == [
        ("out_for_delivery", "email", "sent"),
        ("out_for_delivery", "sms", "sent"),
        ("failed_attempt", "email", "sent"),
        ("failed_attempt", "sms", "sent"),
        ("out_for_delivery", "email", "sent"),
        ("out_for_delivery", "sms", "sent"),
    ]
    # Each round's code is in that round's messages and nowhere else.
    bodies = [r.body for r in rows]
    assert [first.code in b for b in bodies] == [True, True, False, False, False, False]
    assert [second.code in b for b in bodies] == [False, False, False, False, True, True]
    texts = [m["text"] for m in sms_provider.delivered.values()]
    assert [CODE.findall(t) for t in texts] == [[first.code], [], [second.code]]
    mails = smtp_server.inbox.messages
    assert [m["Subject"].startswith("Your parcel") for m in mails] == [True, False, True]
    assert first.code in mails[0].get_content() and second.code in mails[2].get_content()
    assert first.code not in caplog.text and second.code not in caplog.text
