"""The ingest worker: messages from the inbox in batches, each committed, then acknowledged.

    paho network thread --on_message--> inbox --> worker thread
                                                    | commit batch (one transaction)
                                                    | acknowledge its messages

Events are acknowledged to the broker (MQTT 5 PUBACK, paho manual_ack) only after the batch
holding them is committed, so a crash at any point loses nothing: the broker resends what
was not acknowledged, and the store's (site, seq) key makes the resend a no-op.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from central.service.config import IngestConfig
from central.sites.ingest import Delivery, Ingest
from protocols.clock import Clock

log = logging.getLogger(__name__)

# A failed commit (the disk, a lock held too long) is retried after this long; the batch's
# messages stay unacknowledged meanwhile, so nothing is lost.
COMMIT_RETRY_S = 1.0
# An idle ingest worker looks up this often (to notice a stop, and to show it is alive).
IDLE_WAKE_S = 0.5


@dataclass(frozen=True)
class AckToken:
    """What acknowledging a message takes: its packet id on the connection it came on."""

    generation: int  # which connection of this process (counted up on every connect)
    mid: int
    qos: int


class IngestWorker:
    """Batches of deliveries committed through `Ingest`, then acknowledged on `client`."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        config: IngestConfig,
        clock: Clock,
        client: mqtt.Client,
        generation: Callable[[], int],
        stopping: threading.Event,
    ) -> None:
        self.ingest = ingest
        self.config = config
        self.clock = clock
        self.client = client
        self._generation = generation
        self._stopping = stopping
        self.inbox: queue.Queue[tuple[Delivery, AckToken]] = queue.Queue()
        # When the loop last went round (time.monotonic()): the systemd watchdog's evidence.
        self.heartbeat = time.monotonic()
        self.committed_batches = 0
        self.on_commit: Callable[[int], None] | None = None  # tests and benchmarks watch this

    def put(self, delivery: Delivery, token: AckToken) -> None:
        """Called on paho's network thread for each message."""
        self.inbox.put((delivery, token))

    def run(self) -> None:
        """The worker thread's loop, until `stopping` is set and the inbox is drained."""
        config = self.config
        batch: list[tuple[Delivery, AckToken]] = []
        batch_started = 0.0
        while True:
            stopping = self._stopping.is_set()
            now_m = self.heartbeat = time.monotonic()
            if batch and (
                len(batch) >= config.batch_size
                or now_m - batch_started >= config.flush_interval_s
                or stopping
            ):
                if not self._commit(batch):
                    if self._stopping.wait(COMMIT_RETRY_S) and not self._retry_on_stop(batch):
                        return
                    continue
                batch = []
            if stopping and self.inbox.empty():
                return
            wait = IDLE_WAKE_S
            if batch:
                wait = min(wait, batch_started + config.flush_interval_s - time.monotonic())
            try:
                item = self.inbox.get(timeout=max(0.0, wait) if not stopping else 0)
            except queue.Empty:
                continue
            if not batch:
                batch_started = time.monotonic()
            batch.append(item)
            # Take whatever else is already waiting, up to a full batch, without blocking.
            while len(batch) < config.batch_size:
                try:
                    batch.append(self.inbox.get_nowait())
                except queue.Empty:
                    break

    def _retry_on_stop(self, batch: list[tuple[Delivery, AckToken]]) -> bool:
        # Stopping with a batch that will not commit: leave it unacknowledged for the broker
        # to resend to whoever runs next.
        log.error("stopping with %s uncommitted messages; the broker will resend them", len(batch))
        return False

    def _commit(self, batch: list[tuple[Delivery, AckToken]]) -> bool:
        try:
            result = self.ingest.commit([d for d, _ in batch], self.clock.now())
        except Exception:
            log.exception("commit of %s messages failed; retrying", len(batch))
            return False
        generation = self._generation()
        for _, token in batch:
            # A message from an earlier connection is already on its way again from the
            # broker (unacknowledged messages are resent on reconnect): acking its old
            # packet id on the new connection would acknowledge a different message.
            if token.generation == generation and token.qos > 0:
                self.client.ack(token.mid, token.qos)
        self.committed_batches += 1
        if result.rejected:
            log.warning("batch: %s message(s) rejected", result.rejected)
        if self.on_commit is not None:
            self.on_commit(len(batch))
        return True
