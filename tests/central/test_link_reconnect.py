"""Central's MQTT sessions reconnect by the project's backoff (protocols/backoff.py), with
paho's own network thread doing the waiting."""

from __future__ import annotations

import random
from typing import Any

from central.broker import PrivateBroker
from central.service.config import BrokerConfig
from central.service.link import ReconnectPacer, make_client
from protocols.backoff import RECONNECT, STABLE_CONNECTION_S, BackoffPolicy
from tests.eventually import eventually


class Recorder:
    """Stands in for a paho client: what the pacer asked paho to wait."""

    def __init__(self) -> None:
        self.waits: list[tuple[float, float]] = []
        self.on_socket_open: Any = None
        self.on_socket_close: Any = None
        self.on_connect_fail: Any = None

    def reconnect_delay_set(self, min_delay: float, max_delay: float) -> None:
        self.waits.append((min_delay, max_delay))


def test_each_wait_is_drawn_by_the_policy_and_a_held_connection_starts_over() -> None:
    now = [0.0]
    pacer = ReconnectPacer(BackoffPolicy(1.0, 30.0), random.Random(5), monotonic=lambda: now[0])
    client = Recorder()
    pacer.attach(client)  # type: ignore[arg-type]
    for _ in range(8):  # the broker is gone: refused before any socket
        client.on_connect_fail(client, None)
    waits = [low for low, high in client.waits[1:] if low == high]
    assert len(waits) == 8
    assert all(1.0 <= w <= 30.0 for w in waits)
    assert pacer.backoff.failures == 8
    # A connection that held: its loss waits the shortest again.
    client.on_socket_open(client, None, object())
    now[0] += STABLE_CONNECTION_S + 1
    client.on_socket_close(client, None, object())
    assert pacer.backoff.failures == 1 and 1.0 <= client.waits[-1][0] <= 2.0
    # One dropped at once (another process took the session) keeps the count growing.
    client.on_socket_open(client, None, object())
    now[0] += 0.1
    client.on_socket_close(client, None, object())
    assert pacer.backoff.failures == 2


def test_central_comes_back_after_the_broker_does(own_broker: PrivateBroker) -> None:
    config = BrokerConfig(host=own_broker.host, port=own_broker.port)
    client, properties = make_client(
        config, "central-reconnect", persistent=False, manual_ack=False
    )
    client.connect_async(config.host, config.port, config.keepalive_s, properties=properties)
    client.loop_start()
    try:
        eventually(client.is_connected, 10, "the first connection")
        pacer = getattr(client.on_socket_close, "__self__", None)
        assert isinstance(pacer, ReconnectPacer)
        own_broker.stop()
        eventually(lambda: not client.is_connected(), 10, "the loss")
        eventually(lambda: pacer.backoff.failures >= 2, 15, "two attempts while it is down")
        assert pacer.last_wait_s is not None
        assert RECONNECT.min_s <= pacer.last_wait_s <= RECONNECT.max_s
        own_broker.start()
        eventually(client.is_connected, 20, "the reconnect")
    finally:
        client.disconnect()
        client.loop_stop()
