"""A partner's webhook receiver for the tests: a real HTTP server on a free port, in a
thread, that checks every request with the independent `standardwebhooks` package (the
reference implementation of the scheme) and counts each message id it accepted.

It can be switched to answer 500, or taken down (its socket closed: a refused connection)
and brought back on the same port.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: two senders' 16 connections at once would
    # overflow it, and a reset connection is a failed attempt the test did not mean.
    request_queue_size = 128


@dataclass
class Receiver:
    """Verified messages by id; `answer` is the status it gives a verified message."""

    secret: str = ""
    answer: int = 200
    host: str = "127.0.0.1"
    port: int = 0
    accepted: Counter[str] = field(default_factory=Counter)  # message id -> 2xx answers
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused_signatures: int = 0
    seen_ids: list[str] = field(default_factory=list)  # every attempt, in order
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._handle(body, headers)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test reads the counters

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the socket: connections to the port are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, body: bytes, headers: dict[str, str]) -> int:
        message_id = headers.get("webhook-id", "")
        with self._lock:
            self.seen_ids.append(message_id)
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            with self._lock:
                self.refused_signatures += 1
            return 400
        if self.answer >= 300:
            return self.answer
        with self._lock:
            self.accepted[message_id] += 1
            self.bodies[message_id] = payload
            assert json.loads(body) == payload
        return self.answer


@dataclass
class Trickler:
    """A hostile receiver: it reads the request, then sends its answer's status line one
    byte every `every_s` seconds and never finishes it; it hangs up after `for_s`, or at
    `stop`. Each byte comes well inside any read timeout: only a limit on the whole attempt
    ends it sooner."""

    every_s: float = 0.3
    for_s: float = 60.0
    port: int = 0
    _listener: socket.socket | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Trickler:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            count = int(self.for_s / self.every_s)
            for byte in itertools.islice(itertools.cycle(b"HTTP/1.1 200 OK"), count):
                if self._stopping.wait(self.every_s):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
