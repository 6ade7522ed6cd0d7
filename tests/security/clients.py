"""MQTT 5 clients over TLS with a given certificate, that report what the broker answered."""

from __future__ import annotations

import secrets
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.eventually import eventually

ANSWER_TIMEOUT_S = 5.0


class TlsClient:
    """One broker connection with a certificate (or none); records every answer."""

    def __init__(
        self,
        port: int,
        ca_file: Path,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        *,
        host: str = "127.0.0.1",
        client_id: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        self.client.tls_set(
            ca_certs=str(ca_file),
            certfile=str(cert_file) if cert_file else None,
            keyfile=str(key_file) if key_file else None,
        )
        self.messages: list[mqtt.MQTTMessage] = []
        self.connack: ReasonCode | None = None
        # The broker's other answer to a connection: it closed it (a refused certificate
        # ends in a TLS alert and a closed socket, never in a CONNACK).
        self.closed = False
        self._acks: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # ------------------------------------------------------------------ callbacks
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        with self._lock:
            self.connack = reason

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        with self._lock:
            self.closed = True

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        with self._lock:
            self.closed = True

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self._acks[mid] = reason

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._lock:
            self._acks[mid] = reasons

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def _wait(self, mid: int) -> Any:
        def answer() -> tuple[Any] | None:
            with self._lock:
                return (self._acks.pop(mid),) if mid in self._acks else None

        return eventually(answer, ANSWER_TIMEOUT_S, f"the broker's answer to message {mid}")[0]

    # ------------------------------------------------------------------ actions
    def try_connect(self, wait_s: float = ANSWER_TIMEOUT_S) -> bool:
        """True if the broker let us in (CONNACK success); False if it refused us: a failing
        CONNACK, a TLS handshake it broke off, or the connection closed before any CONNACK.

        Waits for one of these answers, never for a quiet period; raises AssertionError if
        the broker gives none within `wait_s` seconds (a hung broker is not a refusal).
        """
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError):
            return False
        self.client.loop_start()

        def answered() -> bool:
            with self._lock:
                return self.connack is not None or self.closed

        eventually(
            answered, wait_s, f"the broker to accept or refuse us at {self.host}:{self.port}"
        )
        return self.connack is not None and not self.connack.is_failure

    def connect(self) -> TlsClient:
        if not self.try_connect(ANSWER_TIMEOUT_S):
            raise AssertionError(f"broker refused a valid client: {self.connack}")
        return self

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1; the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        reason: ReasonCode = self._wait(info.mid)
        return reason

    def subscribe(self, *topics: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe([(t, 1) for t in topics])
        assert mid is not None
        reasons: list[ReasonCode] = self._wait(mid)
        return reasons

    def received(self, topic: str) -> list[bytes]:
        with self._lock:
            return [bytes(m.payload) for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
