"""The consumer's way out over HTTP: the e-mail's unsubscribe link and an SMS reply STOP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from central.notify import MessageKind, queue_notification
from central.notify.sender import NotificationSender, transports_for
from central.service.config import CentralConfig, parse_config
from central.store import CentralStore
from central.store.open import open_store, store_location
from central.store.records import Contact, ParcelRecord, ParcelState
from central.web.app import create_app
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.tokens import TokenSigner
from tests.notify.servers import SmsProvider, SmtpServer

T0 = 1_800_000_000.0  # 16:00 in Singapore
LABEL = "LN0000000009SG"
FACTS: dict[str, str | float | None] = {"site_name": "Tampines Hub", "until": T0 + 86_400}


def make_config(tmp_path: Path, smtp: SmtpServer, provider: SmsProvider) -> CentralConfig:
    (tmp_path / "sms-key").write_text(provider.api_key)
    return parse_config(
        {
            "store": {"path": str(tmp_path / "central.sqlite")},
            "keys": {"signing_key": str(tmp_path / "central-key.pem")},
            "api": {"session_secret_file": str(tmp_path / "session.key")},
            "notify": {
                "public_url": "https://lockernet.example.sg",
                "link_secret_file": str(tmp_path / "link.key"),
                "email": {
                    "host": smtp.host,
                    "port": smtp.port,
                    "from": "no-reply@lockernet.sg",
                    "starttls": False,
                },
                "sms": {
                    "url": provider.url,
                    "api_key_file": str(tmp_path / "sms-key"),
                    "sender": "LockerNet",
                },
            },
        },
        "test config",
        environ={},
    )


@pytest.fixture
def config(tmp_path: Path, smtp_server: SmtpServer, sms_provider: SmsProvider) -> CentralConfig:
    return make_config(tmp_path, smtp_server, sms_provider)


@pytest.fixture
def store(config: CentralConfig) -> Iterator[CentralStore]:
    opened = open_store(config.store)
    yield opened
    opened.close()


@pytest.fixture
def client(config: CentralConfig, store: CentralStore) -> TestClient:
    ctx = WebContext(
        config=config,
        store=store,
        reader_location=store_location(config.store),
        signer=TokenSigner.generate(),
        clock=ManualClock(T0),
    )
    return TestClient(create_app(ctx))


def queue_and_send(store: CentralStore, config: CentralConfig, step: str) -> None:
    parcel = ParcelRecord(
        label=LABEL,
        state=ParcelState.READY_FOR_PICKUP,
        contact=Contact(email="mei@example.sg", phone="+6591234567"),
    )
    with store.transaction() as session:
        queue_notification(session, parcel, MessageKind.REMINDER, step, T0, FACTS)
    sender = NotificationSender(
        store,
        transports_for(config.notify, config.pickup.notify_folder),
        clock=ManualClock(T0),
        quiet=config.notify.quiet,
    )
    sender.run_due()
    sender.close()


def test_the_emails_unsubscribe_link_stops_the_next_emails(
    client: TestClient, store: CentralStore, config: CentralConfig, smtp_server: SmtpServer
) -> None:
    queue_and_send(store, config, "r1")
    [mail] = smtp_server.inbox.messages
    link = mail["List-Unsubscribe"].strip("<>")
    assert f"To stop these e-mails: {link}" in mail.get_content()
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = urlsplit(link)
    target = f"{path.path}?{path.query}"

    page = client.get(target)
    assert page.status_code == 200 and "mei@example.sg" in page.text
    assert client.post(target).status_code == 200

    queue_and_send(store, config, "r2")
    with store.transaction() as session:
        channels = [n.channel for n in session.notifications(LABEL) if n.step_key == "r2"]
    assert channels == ["sms"]  # the SMS is the sentinel: queued in the same call
    assert len(smtp_server.inbox.messages) == 1


def test_a_forged_link_is_refused_and_stops_nothing(
    client: TestClient, store: CentralStore, config: CentralConfig
) -> None:
    reply = client.post(
        "/api/notify/unsubscribe?address=mei%40example.sg&token=AAAAAAAAAAAAAAAAAAAAAA"
    )
    assert reply.status_code == 404 and "not valid" in reply.text
    with store.transaction() as session:
        assert not session.is_opted_out("email", "mei@example.sg")


def test_an_sms_reply_stop_opts_the_number_out_and_start_back_in(
    client: TestClient, store: CentralStore, sms_provider: SmsProvider
) -> None:
    auth = {"Authorization": f"Bearer {sms_provider.api_key}"}
    wrong = client.post("/api/notify/sms-inbound", json={"from": "+6591234567", "text": "STOP"})
    assert wrong.status_code == 401
    with store.transaction() as session:
        assert not session.is_opted_out("sms", "+6591234567")
    stop = client.post(
        "/api/notify/sms-inbound",
        json={"from": "+65 9123 4567", "text": "stop please"},
        headers=auth,
    )
    assert stop.status_code == 202 and stop.json() == {"action": "opted_out"}
    with store.transaction() as session:
        assert session.is_opted_out("sms", "+6591234567")
    other = client.post(
        "/api/notify/sms-inbound", json={"from": "+6591234567", "text": "thanks"}, headers=auth
    )
    assert other.json() == {"action": "ignored"}
    start = client.post(
        "/api/notify/sms-inbound", json={"from": "+6591234567", "text": "START"}, headers=auth
    )
    assert start.json() == {"action": "opted_in"}
    with store.transaction() as session:
        assert not session.is_opted_out("sms", "+6591234567")
