"""A deposit at a locker reaches the consumer by e-mail and SMS through central's own sender
thread: a real SMTP server and a local server playing the SMS provider. A consumer with no
e-mail gets a link to the code's QR page (served by the real app); a reissued code reaches
the consumer too, and the old one's page says it no longer works."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.config import CentralConfig
from central.service.service import CentralService
from central.store.open import store_location
from central.web.app import create_app
from central.web.context import WebContext
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
PUBLIC_URL = "https://ln.example.sg"
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/c/[A-Za-z0-9._-]+)")


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
        "public_url": PUBLIC_URL,
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
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Hello Tan Wei Ling," in text and code.short_form in text
    assert f"Please collect it before {until}." in text
    assert "Tampines Hub Locker" in text
    assert sms["to"] == "+6591234567"
    assert code.short_form in sms["text"] and until in sms["text"]
    assert PUBLIC_URL not in sms["text"]  # the e-mail carries the QR: no link is needed
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


def deposit(site: Site, n: int, slot: str = "A") -> None:
    site.status(True)
    site.state(snapshot(site.site, [(slot, SizeClass.S, SlotState.FREE, None)]))
    site.send(SiteEvents(site.site).deposit(label(n), slot))


def web(central: CentralService) -> TestClient:
    """The real app over central's own store, signer and clock."""
    ctx = WebContext(
        config=central.config,
        store=central.store,
        reader_location=store_location(central.config.store),
        signer=central.signer,
        clock=central.clock,
    )
    return TestClient(create_app(ctx))


def scanned(page: str) -> str:
    """The text of the QR image inline in a code page."""
    [data] = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(data))))
    return str(barcode.text)


def test_a_consumer_with_no_email_gets_a_link_to_the_codes_qr_which_the_locker_accepts(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
) -> None:
    central = start_central()
    with central.store.transaction() as session:
        announce(session, announcement(1, consumer_email=None), clock.now())
    deposit(make_site("L0001"), 1)
    [sms] = eventually(lambda: list(sms_provider.delivered.values()), what="the pickup SMS")
    with central.store.transaction() as session:
        [code] = session.codes(label(1))
    assert code.short_form in sms["text"] and len(sms["text"]) <= 160
    [path] = LINK.findall(sms["text"])
    assert len(path) <= 3 + len(label(1)) + 1 + 24
    assert smtp_server.inbox.messages == []

    client = web(central)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    opened = central.signer.verifier().pickup_code(
        scanned(page.text), site="L0001", now=clock.now()
    )
    assert (opened.parcel, opened.code_id) == (label(1), code.code_id)
    assert code.short_form in page.text and "Tampines Hub Locker" in page.text
    assert day_and_time(code.expires_at) in page.text
    for private in ("Tan Wei Ling", "9123", "520101"):
        assert private not in page.text
    # A token altered anywhere, or one for another parcel, is not found.
    token = path.removeprefix("/c/")
    tail = token[-1]
    for forged in (
        token[:-1] + ("A" if tail != "A" else "B"),
        token.replace(label(1), label(2)),
        "x",
        "",
    ):
        assert client.get("/c/" + forged).status_code == 404, forged


def test_a_reissued_code_reaches_the_consumer_and_the_old_ones_page_says_it_is_gone(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
    smtp_server: SmtpServer,
    sms_provider: SmsProvider,
) -> None:
    central = start_central()
    with central.store.transaction() as session:
        announce(session, announcement(1, consumer_email=None), clock.now())
        announce(session, announcement(2), clock.now())
    site = make_site("L0001")
    site.status(True)
    free = [(s, SizeClass.S, SlotState.FREE, None) for s in ("A", "B")]
    site.state(snapshot("L0001", free))
    events = SiteEvents("L0001")
    site.send(events.deposit(label(1), "A"))
    site.send(events.deposit(label(2), "B"))
    eventually(lambda: len(sms_provider.delivered) == 2, what="the two pickup SMS")
    eventually(lambda: len(smtp_server.inbox.messages) == 1, what="the pickup e-mail")
    [first] = [m["text"] for m in sms_provider.delivered.values() if PUBLIC_URL in m["text"]]
    [old_path] = LINK.findall(first)

    clock.advance(3600)
    new1 = central.followups.reissue(label(1), clock.now(), "operator test")
    new2 = central.followups.reissue(label(2), clock.now(), "operator test")
    texts = eventually(
        lambda: [m["text"] for m in sms_provider.delivered.values()][2:] if len(
            sms_provider.delivered) == 4 else None,
        what="the reissue SMS",
    )  # fmt: skip
    by_code = {
        new.short_form: text for new in (new1, new2) for text in texts if new.short_form in text
    }
    assert set(by_code) == {new1.short_form, new2.short_form}
    assert "The old code no longer works" in by_code[new1.short_form]
    [new_path] = LINK.findall(by_code[new1.short_form])
    assert PUBLIC_URL not in by_code[new2.short_form]  # parcel 2's consumer has e-mail

    client = web(central)
    gone = client.get(old_path)
    assert gone.status_code == 410 and "no longer works" in gone.text
    assert "data:image/png" not in gone.text and "Tampines" not in gone.text
    page = client.get(new_path)
    assert page.status_code == 200
    verifier = central.signer.verifier()
    assert verifier.pickup_code(scanned(page.text), site="L0001", now=clock.now()).code_id == (
        new1.code_id
    )

    # The consumer with e-mail gets the new code's QR attached, and the wording says the
    # old one is void.
    mail = eventually(
        lambda: smtp_server.inbox.messages[1] if len(smtp_server.inbox.messages) > 1 else None,
        what="the reissue e-mail",
    )
    assert mail["Subject"] == f"A new pickup code for your parcel {label(2)}"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert new2.short_form in text and "The code we sent you before no longer works." in text
    [image] = [part for part in mail.iter_attachments() if part.get_content_type() == "image/png"]
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    assert verifier.pickup_code(barcode.text, site="L0001", now=clock.now()).code_id == (
        new2.code_id
    )
    # Reissuing is one message per new code: nothing more is queued by a rerun.
    with central.store.transaction() as session:
        kinds = [n.message for n in session.notifications(label(2))]
    assert kinds == ["ready_for_pickup", "ready_for_pickup", "code_reissued", "code_reissued"]

    # An expired code's page says only that.
    clock.advance(10 * DAY)
    assert client.get(new_path).status_code == 410
