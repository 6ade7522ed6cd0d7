"""The ingest worker: messages from the inbox in batches, each committed, then acknowledged.

    paho network threads --on_message--> inbox --> worker thread
      (one per broker)                               | commit batch (one transaction)
                                                     | acknowledge its messages, each on
                                                     |   the session it came on
                                                     | note which broker each site is on

Events are acknowledged to the broker (MQTT 5 PUBACK, paho manual_ack) only after the batch
holding them is committed, so a crash at any point loses nothing: the broker resends what
was not acknowledged, and the store's (site, seq) key makes the resend a no-op.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from central.service.config import IngestConfig
from central.service.metrics import CentralMetrics
from central.sites.ingest import Delivery, Ingest
from central.store import CentralStore
from protocols.clock import Clock
from protocols.errors import ProtocolError
from protocols.topics import Topics

log = logging.getLogger(__name__)

# A failed commit (the disk, a lock held too long) is retried after this long; the batch's
# messages stay unacknowledged meanwhile, so nothing is lost.
COMMIT_RETRY_S = 1.0
# An idle ingest worker looks up this often (to notice a stop, and to show it is alive).
IDLE_WAKE_S = 0.5


@dataclass(frozen=True)
class AckToken:
    """What acknowledging a message takes: its packet id on the connection it came on."""

    generation: int  # which connection of its session (counted up on every connect)
    mid: int
    qos: int
    broker: str = "main"  # the session it came on (its broker's name in the config)


class SiteBrokers:
    """Which broker each site is heard on (`sites.broker`), written only when it changes.

    Commands to a site go out on this broker. Only messages the site published live count:
    a retained message replayed by a broker the site has left says where it once was.
    """

    def __init__(self, store: CentralStore, topics: Topics) -> None:
        self.store = store
        self.topics = topics
        self._known: dict[str, str] = {}  # what this process knows the store holds

    def note(self, batch: Sequence[tuple[Delivery, AckToken]]) -> dict[str, str]:
        """Record the broker of every site heard live in a committed batch, where it differs
        from what this process last saw stored (a read and a write per site and change, not
        per message). Returns {site: broker} written."""
        heard: dict[str, str] = {}
        for delivery, token in batch:
            if delivery.retained:
                continue
            try:
                site, _channel = self.topics.parse_site_topic(delivery.topic)
            except ProtocolError:
                continue  # counted as rejected by the commit
            heard[site] = token.broker
        changed = {site: b for site, b in heard.items() if self._known.get(site) != b}
        if not changed:
            return {}
        written: dict[str, str] = {}
        stored: dict[str, str] = {}
        with self.store.transaction() as session:
            session.lock_sites(changed)  # one order for every process: no deadlock
            for site, broker in sorted(changed.items()):
                record = session.get_site(site)
                if record is None:
                    continue  # nothing of it was stored (a rejected message): not known yet
                stored[site] = broker
                if record.broker != broker:
                    session.save_site(dataclasses.replace(record, broker=broker))
                    written[site] = broker
        self._known.update(stored)  # only once committed
        for site, broker in written.items():
            log.info("site %s is heard on broker %s", site, broker)
        return written


class IngestWorker:
    """Batches of deliveries committed through `Ingest`, then each acknowledged on its own
    broker's session (`ack`)."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        config: IngestConfig,
        clock: Clock,
        ack: Callable[[AckToken], None],
        stopping: threading.Event,
        metrics: CentralMetrics | None = None,
    ) -> None:
        """`ack(token)` acknowledges one committed message on the session it came on (and
        does nothing if that connection is gone: the broker sends the message again);
        `metrics` counts each committed batch (none: not counted)."""
        self.ingest = ingest
        self.config = config
        self.clock = clock
        self._ack = ack
        self._stopping = stopping
        self.metrics = metrics
        self.site_brokers = SiteBrokers(ingest.store, ingest.topics)
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
        started = time.perf_counter()
        try:
            result = self.ingest.commit([d for d, _ in batch], self.clock.now())
        except Exception:
            log.exception("commit of %s messages failed; retrying", len(batch))
            return False
        committed_in = time.perf_counter() - started
        for _, token in batch:
            self._ack(token)
        try:
            self.site_brokers.note(batch)
        except Exception:
            # Only where the site's commands go is late: noted again with its next message.
            log.exception("could not record which broker %s message(s) came on", len(batch))
        self.committed_batches += 1
        if self.metrics is not None:
            self.metrics.batch_committed(len(batch), result, committed_in, self.clock.now())
        if result.rejected:
            log.warning("batch: %s message(s) rejected", result.rejected)
        if self.on_commit is not None:
            self.on_commit(len(batch))
        return True
