"""Messages reach people: e-mail through a real SMTP server, SMS through a local server
playing the provider; quiet hours, retries, and never twice for the same step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from central.errors import ConfigError
from central.notify import MessageKind, queue_notification
from central.notify.config import EmailConfig, NotifyConfig, SmsConfig
from central.notify.quiet import DEFAULT_QUIET_HOURS
from central.notify.sender import NotificationSender, RetryPolicy, transports_for
from central.notify.sms import HttpSmsTransport
from central.notify.smtp import SmtpTransport
from central.service.metrics import CentralMetrics
from central.store.base import CentralStore
from central.store.open import open_reader
from central.store.records import Contact, ParcelRecord, ParcelState
from protocols.clock import ManualClock
from protocols.localtime import NETWORK_ZONE
from tests.central.store_contract.stores import open_location
from tests.notify.servers import SmsProvider, SmtpServer

LABEL = "LN0000000042SG"


def sgt(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2027, 1, day, hour, minute, tzinfo=NETWORK_ZONE).timestamp()


UNTIL = sgt(16, 18)  # Saturday 16 Jan 18:00 SGT
FACTS: dict[str, str | float | None] = {
    "short_form": "7KQ2-M9XD",
    "site_name": "Tampines Hub",
    "site": "L0001",
    "site_kind": "locker",
    "until": UNTIL,
}


def parcel(language: str | None = None) -> ParcelRecord:
    contact = Contact(name="Mei", email="mei@example.sg", phone="9123 4567", language=language)
    return ParcelRecord(label=LABEL, state=ParcelState.READY_FOR_PICKUP, contact=contact)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    opened = open_location(str(tmp_path / "central.sqlite"))
    yield opened
    opened.close()


def make_sender(
    store: CentralStore,
    clock: ManualClock,
    smtp: SmtpServer,
    provider: SmsProvider,
    tmp_path: Path,
) -> NotificationSender:
    key = tmp_path / "sms-key"
    key.write_text(provider.api_key + "\n")
    email = EmailConfig(
        host=smtp.host,
        port=smtp.port,
        starttls=False,
        **{"from": "LockerNet <no-reply@lockernet.sg>"},
    )
    sms = SmsConfig(url=provider.url, api_key_file=key, sender="LockerNet")
    return NotificationSender(
        store,
        {
            "email": SmtpTransport(email),
            "sms": HttpSmsTransport(sms),
        },
        clock=clock,
        quiet=DEFAULT_QUIET_HOURS,
        retry=RetryPolicy(first_s=30.0, max_s=60.0, max_attempts=4),
    )


def queue(
    store: CentralStore,
    at: float,
    message: MessageKind = MessageKind.READY_FOR_PICKUP,
    step: str = "code-1",
    language: str | None = None,
) -> int:
    with store.transaction() as session:
        return queue_notification(session, parcel(language), message, step, at, FACTS)


def statuses(store: CentralStore) -> dict[str, str]:
    with store.transaction() as session:
        return {n.channel: n.status for n in session.notifications(LABEL)}


def test_the_email_and_the_sms_carry_the_code_the_local_time_and_the_wording(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    assert queue(store, clock.now()) == 2
    assert sender.run_due() == 2

    [mail] = smtp_server.inbox.messages
    assert mail["To"] == "mei@example.sg"
    assert mail["Subject"] == f"Your parcel {LABEL} is ready for pickup"
    text = mail.get_content()
    assert "Hello Mei," in text
    assert f"Your parcel {LABEL} is ready for pickup at locker Tampines Hub (L0001)." in text
    assert "7KQ2-M9XD" in text
    assert "Please collect it before Sat 16 Jan 18:00 SGT." in text
    assert "reply STOP" in text

    [sms] = sms_provider.delivered.values()
    assert sms["to"] == "+6591234567" and sms["from"] == "LockerNet"
    assert sms["text"] == (
        f"Parcel {LABEL} is at locker Tampines Hub. Code 7KQ2-M9XD. "
        "Collect by Sat 16 Jan 18:00 SGT. Reply STOP to opt out"
    )
    assert statuses(store) == {"email": "sent", "sms": "sent"}
    assert sender.sent == {"email": 1, "sms": 1}


def test_a_message_in_the_consumers_language(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now(), language="zh-SG")
    sender.run_due()
    [mail] = smtp_server.inbox.messages
    assert "1月16日(周六) 18:00" in mail.get_content() and "7KQ2-M9XD" in mail.get_content()
    [sms] = sms_provider.delivered.values()
    assert (
        sms["text"]
        == f"包裹{LABEL}已到Tampines Hub智能柜，取件码7KQ2-M9XD，请于1月16日(周六) 18:00前取件"
    )


def test_a_message_made_at_night_is_held_until_eight_in_the_morning(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    clock = ManualClock(sgt(15, 23, 30))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now())
    assert sender.run_due() == 0
    clock.advance(sgt(16, 7, 59) - clock.now())
    assert sender.run_due() == 0
    assert smtp_server.inbox.messages == [] and sms_provider.requests == []
    clock.advance(60)  # 08:00
    assert sender.run_due() == 2
    assert len(smtp_server.inbox.messages) == 1 and len(sms_provider.delivered) == 1


def test_a_provider_that_fails_after_accepting_does_not_send_twice(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    # The provider takes the message, then answers 500; then a plain 500.
    sms_provider.script = [(500, {}, True), (500, {}, False)]
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now())
    sender.run_due()
    assert statuses(store) == {"email": "sent", "sms": "pending"}
    for _ in range(2):
        clock.advance(61)  # past the longest backoff
        sender.run_due()
    assert statuses(store)["sms"] == "sent"
    keys = {r["key"] for r in sms_provider.requests}
    assert len(sms_provider.requests) == 3 and len(keys) == 1  # one idempotency key
    assert len(sms_provider.delivered) == 1
    # The same step queued again (a retried task): nothing new to send.
    assert queue(store, clock.now()) == 0
    clock.advance(3600)
    assert sender.run_due() == 0
    assert len(sms_provider.requests) == 3 and len(smtp_server.inbox.messages) == 1


def test_a_rate_limit_waits_for_retry_after(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    sms_provider.script = [(429, {"Retry-After": "300"}, False)]
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now())
    sender.run_due()
    clock.advance(299)
    assert sender.run_due() == 0  # backoff alone (at most 60 s) would have sent it
    assert len(sms_provider.requests) == 1
    clock.advance(1)
    assert sender.run_due() == 1
    assert statuses(store)["sms"] == "sent" and len(sms_provider.delivered) == 1


def test_a_bad_number_fails_without_a_retry(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    sms_provider.bad_numbers = {"+6591234567"}
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now())
    sender.run_due()
    clock.advance(3600)
    assert sender.run_due() == 0
    assert statuses(store) == {"email": "sent", "sms": "failed"}
    assert len(sms_provider.requests) == 1
    with store.transaction() as session:
        [sms] = [n for n in session.notifications(LABEL) if n.channel == "sms"]
    assert "HTTP 400" in (sms.last_error or "") and "invalid destination number" in (
        sms.last_error or ""
    )


def test_a_refused_mailbox_fails_and_the_sms_still_goes(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    smtp_server.inbox.refuse = {"mei@example.sg"}
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now())
    sender.run_due()
    assert statuses(store) == {"email": "failed", "sms": "sent"}


def test_an_opted_out_number_gets_no_sms(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    with store.transaction() as session:
        session.add_opt_out("sms", "+6591234567", clock.now())
    queue(store, clock.now())
    sender.run_due()
    # The e-mail is the sentinel: sent in the same round, after the SMS would have been.
    assert len(smtp_server.inbox.messages) == 1
    assert sms_provider.requests == []


def test_without_servers_the_messages_go_to_the_private_folder(
    store: CentralStore, tmp_path: Path
) -> None:
    folder = tmp_path / "outbox"
    clock = ManualClock(sgt(15, 10))
    sender = NotificationSender(
        store, transports_for(NotifyConfig(), folder), clock=clock, quiet=DEFAULT_QUIET_HOURS
    )
    queue(store, clock.now())
    assert sender.run_due() == 2
    files = sorted(folder.iterdir())
    assert [f.name.split(".")[:3] for f in files] == [
        [LABEL, "ready_for_pickup", "email"],
        [LABEL, "ready_for_pickup", "sms"],
    ]
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert folder.stat().st_mode & 0o777 == 0o700
    email = files[0].read_text()
    assert email.startswith("To: mei@example.sg\nSubject: Your parcel")
    assert "7KQ2-M9XD" in email and "Sat 16 Jan 18:00 SGT" in email
    assert statuses(store) == {"email": "sent", "sms": "sent"}


def test_a_missing_api_key_file_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "sms-key"
    config = NotifyConfig(
        sms=SmsConfig(url="http://127.0.0.1:9/v1", api_key_file=missing, sender="X")
    )
    with pytest.raises(ConfigError, match=f"notify.sms.api_key_file {missing}: cannot read it"):
        transports_for(config, tmp_path / "outbox")


def test_the_metrics_count_messages_by_channel_and_status(
    store: CentralStore, smtp_server: SmtpServer, sms_provider: SmsProvider, tmp_path: Path
) -> None:
    sms_provider.bad_numbers = {"+6591234567"}
    clock = ManualClock(sgt(15, 10))
    sender = make_sender(store, clock, smtp_server, sms_provider, tmp_path)
    queue(store, clock.now())
    queue(store, clock.now(), MessageKind.REMINDER, "r1")
    sender.run_due()
    metrics = CentralMetrics()
    metrics.watch_store(lambda: open_reader(str(tmp_path / "central.sqlite")))
    families = text_string_to_metric_families(generate_latest(metrics.registry).decode())
    [family] = [f for f in families if f.name == "lockernet_central_notifications"]
    counts = {(s.labels["channel"], s.labels["status"]): s.value for s in family.samples}
    assert counts[("email", "sent")] == 2 and counts[("sms", "failed")] == 2
    assert counts[("email", "pending")] == 0 and counts[("sms", "sent")] == 0
