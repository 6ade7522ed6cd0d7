"""Central's timer work, on a thread of its own so that slow follow-up work (a QR image, a
command round trip) never holds up ingest: gaps, silent sites, reservation lapses, placement
of waiting parcels, due tasks, and central's retained status."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from central.capacity.reservations import PLACEMENT_CHUNK, Reservations
from central.parcels.tasks import TaskRunner
from central.service.config import CentralConfig
from central.sites import liveness
from central.sites.ingest import Ingest
from central.store import CentralStore
from protocols.clock import Clock
from protocols.topics import Topics

log = logging.getLogger(__name__)

# A parcel left announced (never placed, or its reservation lapsed or was refused) is placed
# again by the timer after this long: `parcels import` places its own at once, and a site
# that refuses a reservation gets time to send its state before central tries again.
REPLACE_AFTER_S = 30.0


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
        client: mqtt.Client,
        topics: Topics,
        status: Callable[[], bytes],
        listening_since: Callable[[], float | None],
        stopping: threading.Event,
    ) -> None:
        self.config = config
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
        """Timer work: gaps, reservation lapses, placement of waiting parcels, due tasks."""
        now = self.clock.now()
        self.ingest.check_gaps(now)
        listening_since = self._listening_since()
        if self.client.is_connected() and listening_since is not None:
            # Only while connected: with the broker gone central hears nobody, and that
            # says nothing about the sites.
            with self.store.transaction() as session:
                liveness.check_stale(session, now, listening_since, self.config.liveness)
        if self.reservations is not None:
            self.reservations.lapse_due(now)
            with self.store.transaction() as session:
                waiting = [
                    p.label
                    for p in session.parcels_in_state(["announced"], PLACEMENT_CHUNK)
                    if p.updated_at <= now - REPLACE_AFTER_S
                ]
            if waiting:
                self.reservations.place(waiting, now)
        if self.client.is_connected():
            while self.tasks.run_due(now) > 0 and not self._stopping.is_set():
                now = self.clock.now()
