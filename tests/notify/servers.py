"""A real SMTP server (aiosmtpd) and a local HTTP server playing an SMS provider, each on a
free port of the loopback (the fixtures in conftest.py start them per test)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from central.broker.launcher import free_port


class _Inbox:
    """The SMTP server's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()  # recipients answered 550

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: _Inbox


@contextmanager
def running_smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port; `.inbox.messages` are the e-mails."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, inbox)
    finally:
        controller.stop()


@dataclass
class SmsProvider:
    """A provider that delivers each Idempotency-Key's message once. `script`: answers to
    give, in order, before answering 200 (status, headers, and whether it still delivers
    the message first, as a provider that fails after accepting does)."""

    url: str
    api_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    script: list[tuple[int, dict[str, str], bool]] = field(default_factory=list)
    bad_numbers: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, body: dict[str, Any], key: str, auth: str
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append({"body": body, "key": key, "auth": auth})
            if auth != f"Bearer {self.api_key}":
                return 401, {}, b'{"error": "bad key"}'
            if body["to"] in self.bad_numbers:
                return 400, {}, b'{"error": "invalid destination number"}'
            if self.script:
                status, headers, accept = self.script.pop(0)
                if accept:
                    self.delivered.setdefault(key, body)
                return status, headers, b'{"error": "scripted"}'
            self.delivered.setdefault(key, body)
            return 200, {}, json.dumps({"id": f"msg-{key}"}).encode()


@contextmanager
def running_sms_provider() -> Iterator[SmsProvider]:
    """A local HTTP server playing the SMS provider, on a free loopback port."""
    port = free_port()
    provider = SmsProvider(url=f"http://127.0.0.1:{port}/v1/messages", api_key="k-123")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            status, headers, reply = provider.answer(
                body, self.headers.get("Idempotency-Key", ""), self.headers.get("Authorization", "")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
