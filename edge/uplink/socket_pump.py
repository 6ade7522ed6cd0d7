"""One paho client driven from an asyncio loop: no network thread of its own.

Many agents share one event loop in the fleet simulator, so a paho client never gets a
thread: its socket is registered with the loop (add_reader / add_writer) and `loop_misc`
runs on a timer. This is paho's documented external-loop interface (`socket()`,
`loop_read()`, `loop_write()`, `loop_misc()`, `want_write()` and the on_socket_* callbacks).
The blocking TCP (and TLS) connect runs in the default executor, so paho may call back from
that thread: every callback is handed to the loop's own thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

MISC_INTERVAL_S = 1.0  # paho's keepalive and retry bookkeeping


class SocketPump:
    """Watches the socket of the current client; says when it is lost via `on_lost`."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self._on_lost = on_lost
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.client: mqtt.Client | None = None
        self._sock: Any = None
        self._misc_task: asyncio.Task[None] | None = None

    def bind(self) -> None:
        """Serve the running loop (call from a coroutine on it, before `attach`)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "SocketPump.bind() first"
        return self._loop

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def threadsafe(self, fn: Callable[..., None]) -> Callable[..., None]:
        """`fn`, run on the loop's thread whichever thread paho calls it from."""

        def call(*args: Any) -> None:
            if self.on_loop_thread():
                fn(*args)
            else:
                self.loop.call_soon_threadsafe(fn, *args)

        return call

    def attach(self, client: mqtt.Client) -> None:
        """Make `client` the one whose socket is watched (a new client per connection)."""
        self.client = client
        client.on_socket_open = self.threadsafe(self._on_socket_open)
        client.on_socket_close = self.threadsafe(self._on_socket_close)
        client.on_socket_register_write = self.threadsafe(self._on_register_write)
        client.on_socket_unregister_write = self.threadsafe(self._on_unregister_write)

    def started(self, client: mqtt.Client) -> None:
        """The connect (run in another thread) returned: watch its socket from here on and
        send the CONNECT if paho still holds it."""
        self.watch(client.socket())
        if client.want_write():
            client.loop_write()

    def watch(self, sock: Any) -> None:
        if sock is None or sock is self._sock or self._loop is None:
            return
        self._sock = sock
        self._loop.add_reader(sock, self._readable)
        if self._misc_task is None or self._misc_task.done():
            self._misc_task = asyncio.ensure_future(self._misc())

    def detach(self) -> None:
        """Stop watching and close the current client's socket at once, without a goodbye
        (a pulled cable; a connection already lost). The client is not used again."""
        client, self.client = self.client, None
        sock, self._sock = self._sock, None
        if self._loop is not None and sock is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        if client is None:
            return
        client.on_socket_close = None
        client.on_socket_unregister_write = None
        client.on_socket_register_write = None
        # A new client is made for every connection: close this one's socket now rather
        # than whenever the garbage collector gets to it. `socket()` is paho's public handle
        # for external loops; the wake-up socket pair paho keeps for its own threaded loop is
        # never made here (only loop() and loop_start() make one).
        own = client.socket()
        if own is not None:
            own.close()

    async def aclose(self) -> None:
        self.detach()
        if self._misc_task is not None:
            self._misc_task.cancel()
            await asyncio.gather(self._misc_task, return_exceptions=True)
            self._misc_task = None

    # --------------------------------------------------------------- paho's socket callbacks
    def _readable(self) -> None:
        if self.client is not None:
            self.client.loop_read()

    def _writable(self) -> None:
        client = self.client
        if client is None:
            return
        client.loop_write()
        # paho asks for the writer to be removed only if it had asked for it to be added on
        # this thread; a request marshalled from the connect thread can arrive after the
        # CONNECT was flushed. A writable socket with nothing to write would spin the loop.
        if not client.want_write() and self._sock is not None and self._loop is not None:
            self._loop.remove_writer(self._sock)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if client is self.client:
            self.watch(sock)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and sock is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        if sock is self._sock:
            self._sock = None
        self._on_lost()

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is None or sock is None or client is not self.client:
            return
        if client.want_write():
            self._loop.add_writer(sock, self._writable)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and sock is not None:
            self._loop.remove_writer(sock)

    async def _misc(self) -> None:
        while self.client is not None and self._sock is not None:
            if self.client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._on_lost()
                return
            await asyncio.sleep(MISC_INTERVAL_S)
