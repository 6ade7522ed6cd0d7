"""One site cannot speak for another: the production broker, real TLS, real ACL."""

from __future__ import annotations

import datetime as dt

import pytest

from central.pki.authority import init_pki
from protocols.topics import SiteChannel, Topics
from tests.eventually import eventually
from tests.security.conftest import SecureBroker

pytestmark = pytest.mark.broker

NOT_AUTHORIZED = 0x87
# A message that must never arrive is checked after a sentinel sent behind it on the same
# path has arrived: the broker hands one subscriber its messages in the order it took them.
SENTINEL = b"sentinel"


def test_a_site_publishes_its_own_events_and_central_receives_them(secure: SecureBroker):
    topics = Topics(secure.root)
    central = secure.central()
    site = secure.site("L0001")
    try:
        shared = f"$share/central/{topics.all_sites(SiteChannel.EVENTS)}"
        assert [r.value for r in central.subscribe(shared)] == [1]
        events = topics.site("L0001", SiteChannel.EVENTS)
        assert not site.publish(events, b'{"seq": 1}').is_failure
        assert not site.publish(topics.site("L0001", SiteChannel.STATUS), b"online").is_failure
        eventually(lambda: central.received(events) == [b'{"seq": 1}'], what="the site's event")
    finally:
        site.close()
        central.close()


def test_a_site_cannot_publish_on_another_sites_topics_or_as_central(secure: SecureBroker):
    topics = Topics(secure.root)
    central = secure.central()
    try:
        watched = [topics.all_sites(c) for c in SiteChannel if c is not SiteChannel.COMMANDS]
        central.subscribe(*watched, topics.central_status())
        forged = [
            topics.site("L0001", SiteChannel.EVENTS),
            topics.site("L0001", SiteChannel.STATUS),
            topics.site("L0001", SiteChannel.STATE),
            topics.site("L0001", SiteChannel.REPLIES),
            topics.site("L0001", SiteChannel.COMMANDS),
            topics.site("L0002", SiteChannel.COMMANDS),  # not even commands to itself
            topics.central_status(),
            f"{secure.root}/sites/L0001",
            "elsewhere/entirely",
        ]
        for topic in forged:
            # Mosquitto answers "not authorized" and then drops the connection: one
            # connection per attempt.
            intruder = secure.site("L0002")
            reason = intruder.publish(topic, b"forged")
            intruder.close()
            assert reason.value == NOT_AUTHORIZED, (topic, str(reason))
        # Every forgery was answered before this is sent: had the broker passed one on,
        # central would hold it before the sentinel.
        honest = secure.site("L0001")
        events = topics.site("L0001", SiteChannel.EVENTS)
        assert not honest.publish(events, SENTINEL).is_failure
        honest.close()
        eventually(lambda: central.received(events) == [SENTINEL], what="the honest sentinel")
        assert not any(bytes(m.payload) == b"forged" for m in central.messages)
    finally:
        central.close()


def test_a_site_cannot_read_another_sites_commands(secure: SecureBroker):
    topics = Topics(secure.root)
    central = secure.central()
    own = secure.site("L0003")
    snoop = secure.site("L0004")
    try:
        theirs = topics.site("L0003", SiteChannel.COMMANDS)
        assert own.subscribe(theirs)[0].value == 1
        # Mosquitto 2.0 grants any subscription and applies the ACL to each message it
        # would deliver: what matters is that nothing arrives.
        snoop.subscribe(theirs, topics.all_sites(SiteChannel.COMMANDS), f"{secure.root}/#")
        assert not central.publish(theirs, b"command for L0003").is_failure
        # The sentinel: a command for the snoop itself, sent after L0003's, which it may read.
        its_own = topics.site("L0004", SiteChannel.COMMANDS)
        assert not central.publish(its_own, SENTINEL).is_failure
        eventually(lambda: own.received(theirs) == [b"command for L0003"], what="L0003's command")
        eventually(lambda: SENTINEL in snoop.received(its_own), what="the snoop's own command")
        assert not any(bytes(m.payload) == b"command for L0003" for m in snoop.messages)
    finally:
        for client in (own, snoop, central):
            client.close()


def test_a_certificate_for_a_name_outside_the_network_may_do_nothing(secure: SecureBroker):
    topics = Topics(secure.root)
    stranger_bundle = secure.home / "bundles" / "X9999"
    secure.pki.issue_site("X9999", stranger_bundle, broker_host="127.0.0.1", broker_port=1)
    stranger = secure.client(stranger_bundle / "site.pem", stranger_bundle / "site.key").connect()
    try:
        topic = topics.site("X9999", SiteChannel.EVENTS)
        stranger.subscribe(topics.central_status(), f"{secure.root}/#")
        central = secure.central()
        assert not central.publish(topics.central_status(), b"central is up").is_failure
        central.close()
        # The stranger may receive nothing, so its sentinel is a round trip of its own: the
        # broker answers this publish after anything it queued for the stranger before it.
        assert stranger.publish(topic, b"x").value == NOT_AUTHORIZED
        assert stranger.messages == []
    finally:
        stranger.close()


def test_no_certificate_another_ca_expired_or_revoked_gets_no_connection(
    secure: SecureBroker, tmp_path
):
    good_cert, good_key = secure.site_credentials("L0005")
    # The control: the same client code with a good certificate gets in.
    control = secure.client(good_cert, good_key)
    assert control.try_connect()
    control.close()

    assert not secure.client(None, None).try_connect()

    rogue = init_pki(tmp_path / "rogue")
    rogue.issue_site("L0005", tmp_path / "rogue-bundle", broker_host="h", broker_port=1)
    rogue_bundle = tmp_path / "rogue-bundle"
    # Presents another CA's L0005 certificate (trusting the real broker's CA itself).
    assert not secure.client(rogue_bundle / "site.pem", rogue_bundle / "site.key").try_connect()

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    expired = secure.home / "bundles" / "L0006-expired"
    secure.pki.issue_site(
        "L0006",
        expired,
        broker_host="127.0.0.1",
        broker_port=secure.tls_port,
        not_before=long_ago,
        not_after=long_ago + dt.timedelta(days=1),
    )
    assert not secure.client(expired / "site.pem", expired / "site.key").try_connect()


def test_a_revoked_site_is_refused_once_the_broker_reads_the_crl(secure: SecureBroker):
    cert, key = secure.site_credentials("L0007")
    before = secure.client(cert, key)
    assert before.try_connect()
    before.close()
    secure.pki.revoke("L0007")
    secure.reload()
    eventually(lambda: not _connects(secure, cert, key), 5, "the broker to refuse L0007")
    # Another site's certificate is untouched by the revocation.
    other = secure.client(*secure.site_credentials("L0008"))
    assert other.try_connect()
    other.close()


def _connects(secure: SecureBroker, cert, key) -> bool:
    client = secure.client(cert, key)
    try:
        return client.try_connect()
    finally:
        client.close()
