"""A deposit at a locker reaches the consumer by e-mail and SMS through central's own sender
thread: a real SMTP server and a local server playing the SMS provider."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.config import CentralConfig
from central.service.service import CentralService
from protocols.clock import ManualClock
from protocols.localtime import day_and_time
from protocols.messages import SizeClass, SlotState
from protocols.topics import Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    announcement,
    central_config,
    label,
    snapshot,
)
from tests.eventually import eventually
from tests.notify.servers import SmsProvider, SmtpServer, running_sms_provider, running_smtp_server

pytestmark = pytest.mark.broker
DAY = 86_400.0


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def sms_provider() -> Iterator[SmsProvider]:
    with running_sms_provider() as provider:
        yield provider


@pytest.fixture
def config(
    tmp_path: Path,
    broker: PrivateBroker,
    topics: Topics,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
) -> CentralConfig:
    key = tmp_path / "sms-key"
    key.write_text(sms_provider.api_key)
    notify = {
        "email": {
            "host": smtp_server.host,
            "port": smtp_server.port,
            "from": "LockerNet <no-reply@lockernet.sg>",
            "starttls": False,
        },
        "sms": {"url": sms_provider.url, "api_key_file": str(key), "sender": "LockerNet"},
    }
    return central_config(tmp_path, broker, topics, notify=notify)


def test_a_deposit_sends_the_consumer_an_email_and_an_sms_with_the_code(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
) -> None:
    central = start_central()
    with central.store.transaction() as session:
        announce(session, announcement(1), clock.now())
    site = make_site("L0001")
    site.status(True)
    site.state(snapshot("L0001", [("A", SizeClass.S, SlotState.FREE, None)]))
    site.send(SiteEvents("L0001").deposit(label(1), "A"))

    [mail] = eventually(lambda: smtp_server.inbox.messages, what="the pickup e-mail")
    [sms] = eventually(lambda: list(sms_provider.delivered.values()), what="the pickup SMS")
    with central.store.transaction() as session:
        [code] = session.codes(label(1))
    until = day_and_time(code.expires_at)
    assert mail["To"] == "wei.ling@example.sg"
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Tan Wei Ling," in text and code.short_form in text
    assert f"Please collect it before {until}." in text
    assert "Tampines Hub Locker" in text
    assert sms["to"] == "+6591234567"
    assert code.short_form in sms["text"] and until in sms["text"]
    # The e-mail carries the QR image the locker's scanner reads: the site's verifier,
    # holding only central's public key, accepts it, and the queue no longer holds it.
    [image] = [part for part in mail.iter_attachments() if part.get_content_type() == "image/png"]
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    opened = central.signer.verifier().pickup_code(barcode.text, site="L0001", now=clock.now())
    assert (opened.parcel, opened.code_id) == (label(1), code.code_id)
    with central.store.transaction() as session:
        rows = session.notifications(label(1))
    assert [(r.channel, r.status, r.qr_text) for r in rows] == [
        ("email", "sent", None),
        ("sms", "sent", None),
    ]
    # The folder notifier is the default only without servers: no token is left on disk.
    folder = central.config.pickup.notify_folder
    assert not folder.exists() or list(folder.iterdir()) == []


def test_the_reminder_and_the_expiry_reach_the_consumer_too(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
) -> None:
    central = start_central()
    with central.store.transaction() as session:
        announce(session, announcement(1), clock.now())
    site = make_site("L0001")
    site.status(True)
    site.state(snapshot("L0001", [("A", SizeClass.S, SlotState.FREE, None)]))
    site.send(SiteEvents("L0001").deposit(label(1), "A"))
    eventually(lambda: len(smtp_server.inbox.messages) == 1, what="the pickup e-mail")

    clock.advance(2 * DAY + 60)  # a day before the expiry, in the afternoon
    eventually(lambda: len(smtp_server.inbox.messages) == 2, what="the reminder e-mail")
    reminder = smtp_server.inbox.messages[1]
    assert reminder["Subject"] == f"Reminder: your parcel {label(1)} is waiting"
    assert "is still waiting at locker Tampines Hub Locker (L0001)" in reminder.get_content()

    clock.advance(1 * DAY)
    eventually(lambda: len(smtp_server.inbox.messages) == 3, what="the expiry e-mail")
    expiry = smtp_server.inbox.messages[2]
    assert expiry["Subject"] == f"Your parcel {label(1)} was not collected"
    texts = eventually(lambda: [m["text"] for m in sms_provider.delivered.values()][2:] or None)
    assert texts == [
        f"Parcel {label(1)} was not collected from locker Tampines Hub Locker and is sent back"
    ]
    assert len(sms_provider.delivered) == 3
