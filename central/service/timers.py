"""Central's timer work, on a thread of its own so that slow follow-up work (a QR image, a
command round trip) never holds up ingest: gaps, silent sites, reservation lapses, placement
of waiting parcels, due tasks, and central's retained status."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from central.capacity.reservations import PLACEMENT_CHUNK, Reservations
from central.parcels.milestone_drop import take_drops
from central.parcels.promise import watch as watch_promise
from central.parcels.tasks import TaskRunner
from central.service.broker_session import BrokerSessions
from central.service.config import CentralConfig, LivenessConfig, ServiceConfig
from central.service.metrics import CentralMetrics
from central.sites import liveness
from central.sites.ingest import Ingest
from central.store import CentralStore, ProcessRecord
from protocols.clock import Clock
from protocols.topics import Topics

log = logging.getLogger(__name__)

# A parcel left announced (never placed, or its reservation lapsed or was refused) is placed
# again by the timer after this long: `parcels import` places its own at once, and a site
# that refuses a reservation gets time to send its state before central tries again. The
# default of `service.replace_after_s`.
REPLACE_AFTER_S = ServiceConfig().replace_after_s

# Real seconds one tick may spend running due tasks before it goes back to the rest of its
# work. On a busy day (a compressed clock, a slow store) tasks come due as fast as they are
# done, and a loop that ran until none was due never returned to placement, liveness or the
# promise's deadlines; what is left is claimed at the next tick, by this process or another.
TASK_BUDGET_S = 0.5


@dataclass
class ProcessHeartbeat:
    """This process's row in the store's `central_processes`: written at start, on every
    tick and at a clean stop, so `lockernet central status` shows who is working."""

    store: CentralStore
    client_id: str
    boot_id: str
    started_at: float
    totals: Counter[str]  # the ingest's running totals (received, applied)
    brokers: Callable[[], list[str]]  # names of the brokers connected now

    @property
    def process(self) -> str:
        """Unique per start: a restart under the same client id is a new row."""
        return f"{self.client_id}/{self.boot_id}"

    def write(self, now: float, *, stopped: bool = False) -> None:
        """Write the row as of `now` (wall clock, seconds since the epoch)."""
        record = ProcessRecord(
            process=self.process,
            client_id=self.client_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            heard_at=now,
            stopped_at=now if stopped else None,
            brokers=() if stopped else tuple(self.brokers()),
            received=self.totals["received"],
            applied=self.totals["applied"],
        )
        with self.store.transaction() as session:
            session.save_process(record)

    def live_twin(self, now: float, alive_s: float) -> ProcessRecord | None:
        """Another process running under this client id: its row written within `alive_s`
        and not stopped, on this host with its pid alive (elsewhere a pid says nothing, and
        a row left by a process killed -9 and restarted at once must not block the restart).
        Two processes with one client id take the broker session from each other."""
        host = socket.gethostname()
        with self.store.transaction() as session:
            rows = session.list_processes()
        for row in rows:
            if (
                row.client_id != self.client_id
                or row.process == self.process
                or row.stopped_at is not None
                or now - row.heard_at > alive_s
            ):
                continue
            if row.host != host:
                log.warning(
                    "central process %s on %s (pid %s) also uses client id %s and was heard "
                    "%.0f s ago: give each process its own broker.client_id",
                    row.process,
                    row.host,
                    row.pid,
                    self.client_id,
                    now - row.heard_at,
                )
                continue
            if row.pid != os.getpid() and _pid_alive(row.pid):
                return row
        return None


def judge_liveness(
    store: CentralStore,
    now: float,
    hearing: Sequence[liveness.BrokerHearing],
    config: LivenessConfig,
) -> None:
    """The brokers this process cannot reach, then the sites silent past their limit. A site
    is judged only while its broker is connected: with the broker gone central hears nobody
    there, and that says nothing about the sites on it.

    Each broker, and then the silent sites, in a transaction of its own: each locks its
    sites in sorted order, as ingest does, and together they would not (an unreachable
    broker's sites, then a silent site before them), which let one wait for ingest while
    ingest waited for it."""
    for broker in hearing:
        with store.transaction() as session:
            liveness.check_brokers(session, now, [broker], config)
    since = {b.name: b.listening_since for b in hearing}
    with store.transaction() as session:
        liveness.check_stale(session, now, since, config)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class Timers:
    """The timer thread's loop (`run`) and one round of its work (`tick`)."""

    def __init__(
        self,
        *,
        config: CentralConfig,
        clock: Clock,
        store: CentralStore,
        ingest: Ingest,
        reservations: Reservations | None,
        tasks: TaskRunner,
        client: BrokerSessions,
        topics: Topics,
        status: Callable[[], bytes],
        listening_since: Callable[[], Sequence[liveness.BrokerHearing]],
        stopping: threading.Event,
        process: ProcessHeartbeat | None = None,
        metrics: CentralMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.process = process
        self.clock = clock
        self.store = store
        self.ingest = ingest
        self.reservations = reservations
        self.tasks = tasks
        self.client = client
        self.topics = topics
        self._status = status  # central's online status message, as of now
        self._listening_since = listening_since
        self._stopping = stopping
        # When the loop last went round (time.monotonic()): the systemd watchdog's evidence.
        self.heartbeat = time.monotonic()

    def run(self) -> None:
        """Tick every `service.tick_interval_s`, publish the status every
        `service.status_interval_s`, until `stopping` is set."""
        service = self.config.service
        next_status = time.monotonic() + service.status_interval_s
        while not self._stopping.wait(service.tick_interval_s):
            self.heartbeat = time.monotonic()
            self._safe_tick()
            if time.monotonic() >= next_status and self.client.is_connected():
                self.client.publish(
                    self.topics.central_status(), self._status(), qos=1, retain=True
                )
                next_status = time.monotonic() + service.status_interval_s

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("timer work failed; trying again at the next tick")

    def tick(self) -> None:
        """Timer work: gaps, the promise's deadlines and alarms, reservation lapses, placement
        of waiting parcels, due tasks."""
        now = self.clock.now()
        if self.process is not None:
            self.process.write(now)
        self.ingest.check_gaps(now)
        hearing = self._listening_since()
        if hearing:
            judge_liveness(self.store, now, hearing, self.config.liveness)
        # Before placement: a parcel found at risk now is dispatched first in this wave.
        watch_promise(self.store, self.config.promise, now)
        if self.reservations is not None:
            self.reservations.lapse_due(now)
            with self.store.transaction() as session:
                waiting = [
                    p.label
                    for p in session.parcels_in_state(["announced"], PLACEMENT_CHUNK)
                    if p.updated_at <= now - self.config.service.replace_after_s
                ]
            if waiting:
                wave = self.reservations.place(waiting, now)
                if self.metrics is not None:
                    self.metrics.wave_placed(wave)
        drop_folder = self.config.milestones.drop_folder
        if drop_folder is not None:
            take_drops(self.store, drop_folder, now)
        if self.client.is_connected():
            budget_ends = time.monotonic() + TASK_BUDGET_S
            while self.tasks.run_due(now) > 0 and not self._stopping.is_set():
                if time.monotonic() >= budget_ends:
                    break
                now = self.clock.now()
