"""Central's Prometheus metrics: what one process did (counters and histograms, kept as it
works) and what the store holds now (gauges, read at each scrape from the read path).

Every process has its own `CollectorRegistry` (never prometheus_client's global one), so a
test can run several centrals in one interpreter. /metrics serves it (central/web/
metrics_route.py). The names and what each one means are listed in docs/metrics.md.

Also the periodic summary line (`IngestSummary`): deposits and pickups are counted in the
log every SUMMARY_INTERVAL_S, never a line per event.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from central.capacity.reservations import WaveResult
    from central.sites.ingest import IngestResult
    from central.store.read import StoreReader

log = logging.getLogger(__name__)

PREFIX = "lockernet_central"
# Seconds from a site's event (its `at`, the site's clock) to its commit at central. A site
# online is well under a second; one back from an outage sends hours at once.
LAG_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 86_400)
# Messages per committed batch: ingest.batch_size is 500 by default, 20,000 at most.
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 20_000)
# One store transaction: a few ms on SQLite, a round trip or more on PostgreSQL.
TRANSACTION_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# A placement wave: a timer's few parcels in ms, a day's manifest of 200,000 in minutes.
WAVE_BUCKETS_S = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)
# The periodic "deposits and pickups" line: often enough to follow a day, rare enough to read.
SUMMARY_INTERVAL_S = 300.0
# Event types the summary line names (the rest are summed as "other").
SUMMARY_TYPES = {"parcel_deposited": "deposits", "parcel_picked_up": "pickups"}

OpenReader = Callable[[], "StoreReader"]


class CentralMetrics:
    """One central process's metrics, in its own registry (`registry`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events_received = Counter(
            f"{PREFIX}_events_received",
            "Well-formed site events received, by event type (rate() gives per second).",
            ["type"],
            registry=r,
        )
        self.events_applied = Counter(
            f"{PREFIX}_events_applied", "Site events applied in their site's order.", registry=r
        )
        self.events_duplicate = Counter(
            f"{PREFIX}_events_duplicate",
            "Site events received again (a resend) and not applied twice.",
            registry=r,
        )
        self.messages_rejected = Counter(
            f"{PREFIX}_messages_rejected",
            "Messages that could not be read (bad topic, payload or schema) and were dropped.",
            registry=r,
        )
        self.messages_other = Counter(
            f"{PREFIX}_messages_other",
            "Statuses, state snapshots, replies and heartbeats received.",
            registry=r,
        )
        self.ingest_lag = Histogram(
            f"{PREFIX}_ingest_lag_seconds",
            "From a site's event (its own clock) to the commit of its batch at central.",
            buckets=LAG_BUCKETS_S,
            registry=r,
        )
        self.batch_size = Histogram(
            f"{PREFIX}_ingest_batch_messages",
            "Messages per committed ingest batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.transaction_seconds = Histogram(
            f"{PREFIX}_store_transaction_seconds",
            "Wall time of a store transaction, by the work it did.",
            ["work"],
            buckets=TRANSACTION_BUCKETS_S,
            registry=r,
        )
        self.wave_seconds = Histogram(
            f"{PREFIX}_placement_wave_seconds",
            "Wall time of one placement wave (place, reserve, assign, commit).",
            buckets=WAVE_BUCKETS_S,
            registry=r,
        )
        self.dispatch_seconds = Histogram(
            f"{PREFIX}_dispatch_seconds",
            "Wall time of assigning one wave's parcels to partners and couriers.",
            buckets=WAVE_BUCKETS_S,
            registry=r,
        )
        self.parcels_placed = Counter(
            f"{PREFIX}_parcels_placed",
            "Parcels placed, by delivery mode (locker, counter, home).",
            ["mode"],
            registry=r,
        )
        self.summary = IngestSummary()

    def batch_committed(
        self, messages: int, result: IngestResult, seconds: float, now: float
    ) -> None:
        """One ingest batch of `messages` committed in `seconds` at `now` (central's clock,
        unix seconds). Cheap: counter increments and one histogram sample per event."""
        for kind, count in result.types.items():
            self.events_received.labels(kind).inc(count)
        self.events_applied.inc(result.applied)
        self.events_duplicate.inc(result.duplicates)
        self.messages_rejected.inc(result.rejected)
        self.messages_other.inc(result.other)
        self.batch_size.observe(messages)
        self.transaction_seconds.labels("ingest_batch").observe(seconds)
        for at in result.event_at:
            # A site's clock ahead of central's would give a negative lag: counted as none.
            self.ingest_lag.observe(max(0.0, now - at))
        self.summary.add(result)

    def wave_placed(self, wave: WaveResult) -> None:
        """One placement wave finished (its own timings in `wave`)."""
        self.wave_seconds.observe(wave.seconds)
        self.dispatch_seconds.observe(wave.dispatch_s)
        modes = {"locker": wave.lockers, "counter": wave.counters, "home": wave.home}
        for mode, count in modes.items():
            self.parcels_placed.labels(mode).inc(count)

    def watch_store(self, open_reader: OpenReader) -> StoreGauges:
        """Add the gauges read from the store at each scrape (alarms open by kind, sites
        online); `open_reader()` gives a fresh read-only snapshot each time."""
        gauges = StoreGauges(open_reader)
        self.registry.register(gauges)
        return gauges


class StoreGauges(Collector):
    """Gauges read at scrape time from a read-only snapshot of the store: what the whole
    deployment holds now, whichever process serves the scrape."""

    def __init__(self, open_reader: OpenReader) -> None:
        self._open_reader = open_reader

    def describe(self) -> Iterable[Metric]:
        # Named without reading the store: registering must not open a connection.
        return [
            GaugeMetricFamily(f"{PREFIX}_alarms_open", "Open alarms, by kind.", labels=["kind"]),
            GaugeMetricFamily(f"{PREFIX}_sites_online", "Sites central calls online."),
            GaugeMetricFamily(f"{PREFIX}_sites", "Sites central knows of."),
            GaugeMetricFamily(f"{PREFIX}_store_readable", "1 if the last scrape read the store."),
            _notifications({}),
        ]

    def collect(self) -> Iterator[Metric]:
        readable = GaugeMetricFamily(f"{PREFIX}_store_readable", "1 if this scrape read the store.")
        try:
            with self._open_reader() as reader:
                alarms = reader.alarm_counts()
                sites = reader.view.list_sites()
                notifications = reader.view.notification_counts()
        except Exception as exc:  # noqa: BLE001 - a scrape reports the failure, never raises
            log.warning("metrics: the store could not be read for the gauges: %s", exc)
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        yield _alarms_open(alarms)
        online = GaugeMetricFamily(f"{PREFIX}_sites_online", "Sites central calls online.")
        online.add_metric([], sum(1 for s in sites if s.online))
        yield online
        total = GaugeMetricFamily(f"{PREFIX}_sites", "Sites central knows of.")
        total.add_metric([], len(sites))
        yield total
        yield _notifications(notifications)


def _notifications(counts: Mapping[tuple[str, str], int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        f"{PREFIX}_notifications",
        "Messages to consumers (central/notify), by channel and status (pending, sent, failed).",
        labels=["channel", "status"],
    )
    # Every pair, 0 included: an alert on failed SMS needs its series before the first.
    pairs = {(c, s): 0 for c in ("email", "sms") for s in ("pending", "sent", "failed")}
    pairs.update(counts)
    for (channel, status), count in sorted(pairs.items()):
        family.add_metric([channel, status], count)
    return family


def _alarms_open(counts: Mapping[str, tuple[int, int]]) -> GaugeMetricFamily:
    from central.sites.alarms import AlarmKind

    family = GaugeMetricFamily(f"{PREFIX}_alarms_open", "Open alarms, by kind.", labels=["kind"])
    # Every kind, 0 included: a rate or an alert on one kind needs its series to exist.
    kinds = {kind.value: 0 for kind in AlarmKind}
    kinds.update({kind: still_open for kind, (_raised, still_open) in counts.items()})
    for kind, count in sorted(kinds.items()):
        family.add_metric([kind], count)
    return family


class IngestSummary:
    """Events applied, deposits and pickups counted over a stretch of time and said in one
    log line every `interval_s` (the ingest worker's thread calls `add`)."""

    def __init__(self, interval_s: float = SUMMARY_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._since = time.monotonic()
        self._types: Tally[str] = Tally()
        self._applied = 0
        self._duplicates = 0

    def add(self, result: IngestResult) -> None:
        """Count one committed batch; say the summary if the stretch is over."""
        self._types.update(result.types)
        self._applied += result.applied
        self._duplicates += result.duplicates
        if time.monotonic() - self._since >= self.interval_s:
            self.say()

    def say(self) -> None:
        """Log the stretch's counts (if anything came) and start a new stretch."""
        elapsed = time.monotonic() - self._since
        received = sum(self._types.values())
        if received:
            named = {word: self._types.get(kind, 0) for kind, word in SUMMARY_TYPES.items()}
            counted = [f"{count} {word}" for word, count in named.items()]
            counted.append(f"{received - sum(named.values())} other")
            log.info(
                "last %.0f s: %s events received, %s applied, %s duplicates; %s",
                elapsed,
                received,
                self._applied,
                self._duplicates,
                ", ".join(counted),
            )
        self._since = time.monotonic()
        self._types.clear()
        self._applied = self._duplicates = 0
