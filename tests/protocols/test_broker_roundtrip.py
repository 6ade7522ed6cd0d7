"""Message models through the real broker (the project's Mosquitto settings) and back."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from central.broker import PrivateBroker
from protocols import messages as m
from protocols.topics import SiteChannel, Topics

pytestmark = pytest.mark.broker

TIMEOUT_S = 10.0  # a deadline, not a wait: every step returns as soon as it is done


class Client:
    """A paho 2.x MQTT 5 client that queues what it receives, for a test to wait on."""

    def __init__(self, broker: PrivateBroker) -> None:
        self.received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed: dict[int, threading.Event] = {}
        self._granted: dict[int, list[ReasonCode]] = {}
        self.mqtt = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_message = lambda _c, _u, message: self.received.put(message)
        self.mqtt.connect(broker.host, broker.port)
        self.mqtt.loop_start()
        assert self._connected.wait(TIMEOUT_S), "no CONNACK from the broker"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        assert not code.is_failure, code
        self._connected.set()

    def _on_subscribe(
        self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Properties | None
    ) -> None:
        self._granted[mid] = codes
        self._subscribed.setdefault(mid, threading.Event()).set()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        result, mid = self.mqtt.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None
        assert self._subscribed.setdefault(mid, threading.Event()).wait(TIMEOUT_S), "no SUBACK"
        assert [code.value for code in self._granted[mid]] == [qos]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.mqtt.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(TIMEOUT_S)  # QoS 1: returns once the broker's PUBACK came
        assert info.is_published()

    def next_message(self) -> mqtt.MQTTMessage:
        try:
            return self.received.get(timeout=TIMEOUT_S)
        except queue.Empty:
            pytest.fail(f"nothing arrived within {TIMEOUT_S}s")

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


@contextmanager
def client(broker: PrivateBroker) -> Iterator[Client]:
    instance = Client(broker)
    try:
        yield instance
    finally:
        instance.close()


def test_an_event_goes_through_the_broker_and_comes_back_equal(
    broker: PrivateBroker, topics: Topics
) -> None:
    event = m.Event(
        site="L0001",
        seq=1,
        id="L0001-1",
        at=1_767_225_600.25,
        payload=m.ParcelDeposited(
            parcel="RR123456785CN", slot="A07", courier="C042", size=m.SizeClass.S, reserved=True
        ),
    )
    topic = topics.site("L0001", SiteChannel.EVENTS)
    with client(broker) as central, client(broker) as site:
        central.subscribe(topics.all_sites(SiteChannel.EVENTS), qos=1)
        site.publish(topic, m.encode(event), qos=1)
        message = central.next_message()
    assert message.topic == topic
    assert message.qos == 1
    assert topics.parse_site_topic(message.topic) == ("L0001", SiteChannel.EVENTS)
    received = m.decode(m.Event, bytes(message.payload))
    assert received == event
    assert isinstance(received.payload, m.ParcelDeposited)


def test_a_retained_site_status_reaches_a_late_subscriber(
    broker: PrivateBroker, topics: Topics
) -> None:
    status = m.SiteStatus(
        site="L0001", online=True, boot_id="boot-7f3a", at=1_767_225_600.0, agent_version="0.1.0"
    )
    topic = topics.site("L0001", SiteChannel.STATUS)
    with client(broker) as site:
        site.publish(topic, m.encode(status), qos=1, retain=True)
    with client(broker) as late:  # connects after the site published and left
        late.subscribe(topic, qos=1)
        message = late.next_message()
        assert message.retain
        assert m.decode(m.SiteStatus, bytes(message.payload)) == status
        late.publish(topic, b"", qos=1, retain=True)  # clear the retained status again
