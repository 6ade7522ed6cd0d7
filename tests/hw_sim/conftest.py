"""Helpers for hw_sim tests: a site served on ptys from a background event loop (so a test
can use plain blocking pyserial, as an independent driver would), an async pty host with the
same interface as the in-memory link, and reading with a deadline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import serial

from hw_sim.devices.reply_schedule import SerialDevice
from hw_sim.devices.site import SimulatedSite, SiteConfig
from protocols.clock import SystemClock
from tests.eventually import describe, eventually

T = TypeVar("T")
# How long a host waits for a reply before calling it silence: far above the simulator's
# reply latency (5-10 ms) plus wire time, far below a driver's own timeout.
SILENCE_S = 0.3


class SimThread:
    """A SimulatedSite on ptys, run by an event loop in a thread of its own."""

    def __init__(self, config: SiteConfig, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.site = SimulatedSite(SystemClock(), config)
        self.directory = directory
        self.locks_path = directory / "locks"
        self.scanner_path = directory / "scanner"
        self.do(lambda site: site.serve_pty(directory))

    def do(self, action: Callable[[SimulatedSite], T]) -> T:
        """Run `action(site)` on the simulator's loop (its objects are not thread-safe)."""

        async def call() -> T:
            return action(self.site)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)

    def wait_for(
        self, check: Callable[[SimulatedSite], Any], timeout: float = 5.0, what: str = ""
    ) -> Any:
        """`eventually(check(site))`, each try run on the simulator's loop (its objects are
        not thread-safe); returns the first truthy result."""
        return eventually(lambda: self.do(check), timeout, what or describe(check), interval=0.002)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.site.aclose(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., SimThread]]:
    started: list[SimThread] = []

    def start(config: SiteConfig | None = None) -> SimThread:
        sim = SimThread(config or SiteConfig(), tmp_path / f"site{len(started)}")
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.close()


@pytest.fixture
def sim(sim_factory: Callable[..., SimThread]) -> SimThread:
    return sim_factory()


class PtyHost:
    """A host on a pty through pyserial, read from the event loop: same interface as
    MemoryLink (write / async read / close), so one script can run over both."""

    def __init__(self, path: Path, baudrate: int) -> None:
        self.serial = serial.Serial(str(path), baudrate, timeout=0)
        self._chunks: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.serial.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self.serial.read(4096)
        except serial.SerialException as error:
            self._loop.remove_reader(self.serial.fileno())
            self._chunks.put_nowait(error)
            return
        if data:
            self._chunks.put_nowait(data)

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    async def read(self) -> bytes:
        item = await self._chunks.get()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        if self.serial.is_open:
            self._loop.remove_reader(self.serial.fileno())
            self.serial.close()


async def read_bytes(link: Any, count: int, timeout: float = SILENCE_S) -> bytes:
    """Up to `count` bytes, or what arrived before `timeout` seconds passed."""
    data = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(data) < count:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            data += await asyncio.wait_for(link.read(), left)
        except TimeoutError:
            break
    return data


async def exchange(link: Any, frame: bytes, count: int, timeout: float = SILENCE_S) -> bytes:
    link.write(frame)
    return await read_bytes(link, count, timeout)


# How long a sentinel's answer may take: generous, as a loaded machine is slow; an answer
# that comes returns at once.
SENTINEL_TIMEOUT_S = 5.0


async def before_sentinel(
    link: Any, sentinel: bytes, reply: bytes, timeout: float = SENTINEL_TIMEOUT_S
) -> bytes:
    """The sentinel for a device's silence: write `sentinel`, a request the device answers
    with `reply`, and return every byte that reached `link` before that reply (b"" when the
    requests written earlier got no answer: a bus answers in the order it was asked, so their
    answers would have come first). Raises AssertionError if `reply` never comes."""
    link.write(sentinel)
    data = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not data.endswith(reply):
        left = deadline - loop.time()
        try:
            data += await asyncio.wait_for(link.read(), max(left, 0.0))
        except TimeoutError:
            break
    assert data.endswith(reply), f"no answer {reply.hex(' ')} to the sentinel: {data.hex(' ')}"
    return data[: -len(reply)]


def before_sentinel_on_port(
    bus: serial.Serial, sentinel: bytes, reply: bytes, timeout: float = SENTINEL_TIMEOUT_S
) -> bytes:
    """`before_sentinel` on a real serial port (a pty): the bytes before `sentinel`'s `reply`."""
    kept = bus.timeout
    bus.timeout = timeout  # pyserial's read_until gives up after the port's timeout
    try:
        bus.write(sentinel)
        data = bus.read_until(reply)
    finally:
        bus.timeout = kept
    assert data.endswith(reply), f"no answer {reply.hex(' ')} to the sentinel: {data.hex(' ')}"
    return data[: -len(reply)]


def drain(device: SerialDevice, until: float = float("inf")) -> list[tuple[float, bytes]]:
    """Sans-I/O: produce every queued reply due by `until`, as (ready time, bytes)."""
    out = []
    while (reply := device.replies.peek()) is not None and reply.ready_at <= until:
        device.replies.pop()
        out.append((reply.ready_at, reply.produce(reply.ready_at)))
    return out
