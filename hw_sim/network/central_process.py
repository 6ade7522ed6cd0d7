"""Central in its own process for the simulated day, as it runs in production.

Sharing one interpreter with two thousand site agents, central's threads waited on the GIL
behind the agents' event loop, and placing a 50,000-parcel wave took minutes of wall time
that an idle central does in seconds. In its own process central gets its own interpreter
and the machine's second core. The two processes keep one simulated time (ScaledClock from
the same anchor) and talk over two multiprocessing queues: waves of manifests in; pickup
codes for the consumers, progress lines and the final counts out. Everything else goes
where it goes in production: events and commands over the broker, state in central's store.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from multiprocessing.context import SpawnProcess
from typing import Any, Protocol, TypeVar, runtime_checkable

from central.parcels.manifest import ParcelAnnouncement
from central.parcels.milestone_feed import record_reports
from central.parcels.pickup_codes import Notification, PickupNotice
from central.parcels.steps import announce
from central.service.config import parse_config
from central.service.service import CentralService
from central.sites.network import Network
from central.store import CentralStore, ParcelRecord
from central.store.open import open_store
from hw_sim.network.carrier_feed import carrier_reports
from hw_sim.network.central_returns import ReturnsDesk
from protocols.clock import ScaledClock
from protocols.logs import quiet_chatty_libraries
from protocols.tokens import TokenSigner

log = logging.getLogger(__name__)

T = TypeVar("T")

# Announced per transaction: central's ingest thread commits between chunks.
ANNOUNCE_CHUNK = 500
STOP_TIMEOUT_S = 60.0
# Attempts at one of a wave's transactions that met a retryable store error.
WAVE_ATTEMPTS = 10


@runtime_checkable
class ChunkHold(Protocol):
    """A session that holds a chunk's parcels in one query (central.store.queries.parcels)."""

    def hold_parcels(self, labels: Iterable[str]) -> dict[str, ParcelRecord]: ...


class CentralProcessError(RuntimeError):
    """Central's process failed to start, died, or reported an error."""


@dataclass(frozen=True)
class CentralSpec:
    """What the child process needs to build central (all of it picklable)."""

    config: dict[str, Any]
    network: Network
    signing_key_pem: bytes
    clock_anchor: tuple[float, float, float]
    log_level: int = logging.WARNING


class _QueueNotifier:
    """Central's notifier in the simulation: each consumer's code goes back to the people."""

    def __init__(self, replies: Any) -> None:
        self._replies = replies

    def notify(self, notice: PickupNotice) -> Notification:
        issued = notice.issued
        self._replies.put(("code", issued.parcel, issued.site, issued.text))
        return Notification(parcel=issued.parcel, qr_version=0)


class _NoReminders:
    def remind(self, reminder: Any) -> None:
        return None


def _place_wave(
    central: CentralService, clock: ScaledClock, wave: list[ParcelAnnouncement], replies: Any
) -> None:
    """A wave of manifests reaches central: announced, then placed and reserved."""
    reservations = central.reservations
    assert reservations is not None
    started = time.perf_counter()
    now = clock.now()
    labels: list[str] = []

    # The carriers' feed first: a sample of the wave is known in transit before its manifest
    # (again whole after a failed attempt: a milestone recorded already is a repeat).
    feed = carrier_reports(wave, now, wave[0].label if wave else "")
    fed = _retried(central, lambda: record_reports(central.store, feed, "carrier feed", now))
    fed_at = time.perf_counter()
    for start in range(0, len(wave), ANNOUNCE_CHUNK):
        chunk = wave[start : start + ANNOUNCE_CHUNK]
        labels += _retried(central, partial(announce_chunk, central.store, chunk, now))
    announced_at = time.perf_counter()
    # Placing again after a failed attempt is safe: a parcel is claimed while still
    # announced, so one placed by the first attempt is skipped.
    result = _retried(central, lambda: reservations.place(labels, now))
    ended = time.perf_counter()
    parts = (
        f"feed {fed_at - started:.1f}s, announce {announced_at - fed_at:.1f}s, "
        f"place {ended - announced_at:.1f}s"
    )
    replies.put(
        (
            "progress",
            f"wave of {len(wave)} parcels placed in {ended - started:.1f}s ({parts}): "
            f"{result.lockers} lockers, {result.counters} collection points, {result.home} home"
            f"; carriers' milestones {fed.recorded} recorded, {fed.repeated} repeats",
        )
    )


def announce_chunk(store: CentralStore, chunk: list[ParcelAnnouncement], now: float) -> list[str]:
    """Announce `chunk` (at `now`, Unix s) in one transaction; returns the labels announced
    (a label central knows already, other than in transit, is skipped)."""
    with store.transaction() as session:
        # The chunk's known parcels (those in transit) held in one query, in label order,
        # not read one by one (a round trip each on PostgreSQL).
        held = None
        if isinstance(session, ChunkHold):
            held = session.hold_parcels(p.label for p in chunk)
        announced: list[str] = []
        for parcel in chunk:
            record = announce(session, parcel, now, held=held)
            if record is not None:
                announced.append(parcel.label)
                if held is not None:
                    held[parcel.label] = record  # a label twice in a wave is known now
        return announced


def _retried(central: CentralService, work: Callable[[], T]) -> T:
    """`work` (whole transactions), again on the store's retryable errors (`store.errors`: a
    deadlock or a serialization failure when another central process writes the same sites),
    as every caller of the store does; the last attempt's error goes up."""
    for attempt in range(1, WAVE_ATTEMPTS + 1):
        try:
            return work()
        except central.store.errors as exc:
            if attempt == WAVE_ATTEMPTS:
                raise
            log.warning("a wave's transaction failed (%s); attempt %s", exc, attempt + 1)
    raise AssertionError("unreachable")


def _serve(spec: CentralSpec, requests: Any, replies: Any) -> None:
    """The child process: run central until told to stop."""
    parent = os.getppid()
    # Ctrl-C reaches the whole process group: the parent stops central in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=spec.log_level, format="%(levelname)s central %(name)s %(message)s")
    quiet_chatty_libraries()  # the webhook sender's requests, one line each otherwise
    try:
        clock = ScaledClock(*spec.clock_anchor)
        config = parse_config(spec.config)
        central = CentralService(
            config,
            store=open_store(config.store),
            clock=clock,
            signer=TokenSigner.from_pem(spec.signing_key_pem),
            network=spec.network,
            notifier=_QueueNotifier(replies),
            reminders=_NoReminders(),
        )
        central.start()
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the run
        replies.put(("failed", traceback.format_exc()))
        return
    replies.put(("ready",))
    returns = ReturnsDesk(central, clock, replies)
    waves: list[threading.Thread] = []
    failures: list[str] = []

    def place(wave: list[ParcelAnnouncement]) -> None:
        try:
            _place_wave(central, clock, wave, replies)
        except Exception:  # noqa: BLE001 - reported to the parent, which fails the verdict
            failures.append(traceback.format_exc())
            replies.put(("failed", failures[-1]))

    while True:
        try:
            request = requests.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                replies.cancel_join_thread()  # no one will read them: do not wait to flush
                break  # the simulation died without a word: central goes with it
            continue
        if request[0] == "wave":
            # In the background: the next request (or stop) is not held up by a large wave.
            thread = threading.Thread(target=place, args=(request[1],), name="wave", daemon=True)
            thread.start()
            waves.append(thread)
        elif request[0] == "returns":
            returns.issue(request[1])
        elif request[0] == "received":
            returns.received(request[1])
        else:
            break
    for thread in waves:
        thread.join()
    central.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    replies.put(("stopped", round(peak, 1), dict(central.ingest.totals)))


class CentralProcess:
    """The parent's handle on central's process."""

    def __init__(
        self,
        spec: CentralSpec,
        on_code: Callable[[str, str, str], None],
        progress: Callable[[str], None],
        name: str = "central",
    ) -> None:
        self.name = name
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._requests = context.Queue()
        # A wave still in the pipe when central is gone must not hold this process's exit.
        self._requests.cancel_join_thread()
        self._replies = context.Queue()
        self._process: SpawnProcess = context.Process(
            target=_serve, args=(spec, self._requests, self._replies), name=name
        )
        self._on_code = on_code
        self._progress = progress
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._reader = threading.Thread(target=self._read, name="central-replies", daemon=True)
        self.failure: str | None = None
        self.killed = False  # by `kill`: gone on purpose, not a failure
        self.peak_rss_mib: float | None = None
        self.totals: dict[str, int] = {}

    def start(self, timeout_s: float = 120.0) -> None:
        self._process.start()
        self._reader.start()
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.2):
            if self.failure is not None or not self._process.is_alive():
                self._stopped.wait(5.0)  # the reader takes in what the child said last
                raise CentralProcessError(
                    f"{self.name} did not start:\n{self.failure or 'it died'}"
                )
            if time.monotonic() > deadline:
                raise CentralProcessError(f"{self.name} did not start within {timeout_s:.0f}s")

    def announce(self, wave: list[ParcelAnnouncement]) -> None:
        self._requests.put(("wave", wave))

    def issue_returns(self, items: list[tuple[str, str, str, str]]) -> None:
        """Return labels for (return label, parcel returned, site, size): each comes back
        like a pickup code, to `on_code` (hw_sim/network/central_returns.py)."""
        self._requests.put(("returns", items))

    def returns_received(self, labels: list[str]) -> None:
        """The partner has these returns back (confirmed once central saw them collected)."""
        self._requests.put(("received", labels))

    def stop(self) -> None:
        if self._process.pid is None:
            return  # never started
        if self._process.is_alive():
            self._requests.put(("stop",))
            self._stopped.wait(STOP_TIMEOUT_S)
        self._process.join(10.0)
        if self._process.is_alive():
            log.warning("%s did not stop in time: killed", self.name)
            self._process.kill()
            self._process.join()
        if self._reader.is_alive():
            self._reader.join(5.0)

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a pulled plug ends it: no goodbye, nothing flushed,
        its broker session left to expire. Not a failure of the run: the field fault
        "a central member gone for good" (hw_sim/network/field_day.py)."""
        self.killed = True
        self._stopped.set()
        if self._process.is_alive():
            self._process.kill()
        self._process.join(10.0)

    def _read(self) -> None:
        while not self._stopped.is_set():
            try:
                reply = self._replies.get(timeout=1.0)
            except queue.Empty:
                if not self._process.is_alive() and self._process.exitcode is not None:
                    self._drain()  # what it said just before it went
                    if not self._stopped.is_set():
                        self.failure = self.failure or f"exited ({self._process.exitcode})"
                        self._stopped.set()
                continue
            self._handle(reply)

    def _drain(self) -> None:
        while True:
            try:
                reply = self._replies.get(timeout=0.5)
            except queue.Empty:
                return
            self._handle(reply)

    def _handle(self, reply: tuple[Any, ...]) -> None:
        kind = reply[0]
        if kind == "code":
            self._on_code(reply[1], reply[2], reply[3])
        elif kind == "progress":
            self._progress(reply[1])
        elif kind == "ready":
            self._ready.set()
        elif kind == "failed":
            self.failure = reply[1]
            self._progress(f"{self.name} failed: {reply[1].strip().splitlines()[-1]}")
        elif kind == "stopped":
            self.peak_rss_mib, self.totals = reply[1], reply[2]
            self._stopped.set()
