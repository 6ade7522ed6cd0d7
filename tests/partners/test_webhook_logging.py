"""What central's log says about webhook deliveries: one line when an endpoint starts failing
(its host and what it answered), one when it recovers, nothing per attempt, and none of
httpx's own per-request lines, however many deliveries go out."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.partners.sender import WebhookSender
from central.store import CentralStore
from protocols.clock import ManualClock
from protocols.logs import configure_logging
from tests.central.store_contract.stores import open_location
from tests.partners.receiver import Receiver
from tests.partners.test_webhooks import (
    CONFIG,
    NOW,
    PAST_ANY_RETRY_S,
    announce_owned,
    partner_with_endpoint,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    up = Receiver().start()
    yield up
    up.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    opened = open_location(str(tmp_path / "central.sqlite"))
    yield opened
    opened.close()


@pytest.fixture
def central_log() -> Iterator[io.StringIO]:
    """The log as `lockernet central run` sets it up (INFO, text), written to a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    buffer = io.StringIO()
    configure_logging("INFO", "text", buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def test_a_failing_endpoint_is_logged_once_with_its_host_and_once_when_it_recovers(
    store: CentralStore, receiver: Receiver, central_log: io.StringIO
) -> None:
    partner_with_endpoint(store, receiver)
    announce_owned(store, range(1, 4))
    clock = ManualClock(NOW)
    sender = WebhookSender(store, CONFIG, clock=clock)
    host = f"{receiver.host}:{receiver.port}"
    try:
        receiver.answer = 500
        assert sender.run_due() == 3
        clock.advance(PAST_ANY_RETRY_S)
        assert sender.run_due() == 3  # six failed attempts in all
        receiver.answer = 204
        clock.advance(PAST_ANY_RETRY_S)
        assert sender.run_due() == 3
    finally:
        sender.close()
    assert sorted(receiver.accepted.values()) == [1, 1, 1]
    lines = central_log.getvalue().splitlines()
    failing = [line for line in lines if "is failing" in line]
    assert len(failing) == 1, lines
    assert f"webhook endpoint {host} of partner acme is failing (HTTP 500)" in failing[0]
    assert "WARNING" in failing[0]
    recovered = [line for line in lines if "recovered" in line]
    assert len(recovered) == 1, lines
    assert f"webhook endpoint {host} of partner acme recovered after 6 failed" in recovered[0]
    assert not [line for line in lines if "HTTP Request" in line], lines
    assert "/hook" not in central_log.getvalue()  # the path (a receiver's token) stays out


def test_a_refused_connection_is_named_without_the_url(
    store: CentralStore, receiver: Receiver, central_log: io.StringIO
) -> None:
    partner_with_endpoint(store, receiver)
    announce_owned(store, range(1, 3))
    receiver.stop()
    sender = WebhookSender(store, CONFIG, clock=ManualClock(NOW))
    try:
        assert sender.run_due() == 2
    finally:
        sender.close()
    failing = [line for line in central_log.getvalue().splitlines() if "is failing" in line]
    assert len(failing) == 1
    assert "(ConnectError)" in failing[0]
