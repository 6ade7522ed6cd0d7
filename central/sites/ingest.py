"""Ingest: everything sites publish, committed in batches, each site's events applied once
and in sequence order.

The order of a site's events lives in the store, not in this process: with a shared
subscription, several central processes each receive part of one site's stream. A batch is
decoded (central/sites/deliveries.py) and committed in one transaction: liveness, statuses,
state snapshots and replies first, then each site's events, stored as received and applied
in sequence order (central/sites/sequencing.py). A gap that stays open is asked for again,
and past a last limit given up on with an alarm (central/sites/gaps.py).

The service acknowledges a batch's messages to the broker only after `commit` returned.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from central.capacity.reservations import refused_reservation
from central.service.config import IngestConfig, LivenessConfig
from central.sites import liveness, registry, site_clock
from central.sites.commands import record_reply
from central.sites.deliveries import Delivery, ParsedBatch, parse_deliveries
from central.sites.gaps import GapCheck
from central.sites.sequencing import NeedsCare, Sequencer
from central.sites.site_events import EventEffects
from central.store import CentralStore, StoreSession, StreamCursor
from protocols.messages import Reply
from protocols.topics import Topics

__all__ = ["Delivery", "Ingest", "IngestResult", "stream_of"]

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    received: int = 0  # events in the batch that were well-formed
    applied: int = 0
    duplicates: int = 0
    waiting: int = 0  # stored, waiting for an earlier event of their site
    rejected: int = 0
    other: int = 0  # status, state snapshots, replies
    replies: list[Reply] = field(default_factory=list)
    # For metrics and the periodic summary: received events by type, and each one's `at`
    # (the site's clock), from which its lag to the commit is measured.
    types: Counter[str] = field(default_factory=Counter)
    event_at: list[float] = field(default_factory=list)


@dataclass
class Ingest:
    """Commits batches of deliveries; `check_gaps` is called on the service's gap timer."""

    store: CentralStore
    topics: Topics
    effects: EventEffects
    config: IngestConfig
    totals: Counter[str] = field(default_factory=Counter)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    # When this process last wrote that it heard each site (central's clock): a busy site is
    # heard in every batch, and a write per site per batch cost a fifth of ingest's speed.
    _heard_written: dict[str, float] = field(default_factory=dict)
    _sequencer: Sequencer = field(init=False)
    _gaps: GapCheck = field(init=False)

    def __post_init__(self) -> None:
        self._sequencer = Sequencer(self.effects, self.store.errors)
        self._gaps = GapCheck(self.store, self.config, self._sequencer)

    def commit(self, batch: Sequence[Delivery], now: float) -> IngestResult:
        """Store and apply one batch in one transaction. Bad messages are counted, never
        raised: they must be acknowledged too, or the broker would send them forever."""
        parsed = parse_deliveries(self.topics, batch)
        try:
            result = self._store(parsed, now, careful=False)
        except NeedsCare:
            # Something in the batch cannot be applied. Do it again with each message in a
            # savepoint of its own, so only that message is set aside (with an alarm).
            result = self._store(parsed, now, careful=True)
        self.totals.update(
            received=result.received,
            applied=result.applied,
            duplicates=result.duplicates,
            rejected=result.rejected,
            other=result.other,
        )
        return result

    def check_gaps(self, now: float) -> list[tuple[str, int]]:
        """Ask sites to resend what has been missing for longer than the gap timeout, and
        give up on what has been missing past the last limit. Returns (site, from_seq) of
        the resend requests queued."""
        return self._gaps.check(now)

    def _store(self, parsed: ParsedBatch, now: float, careful: bool) -> IngestResult:
        result = IngestResult(rejected=parsed.rejected, replies=list(parsed.replies))
        with self.store.transaction() as session:
            # Every site this batch writes about is locked before anything of it is read:
            # another process may hold the same sites' other events (the shared subscription
            # splits a stream), and on a store without a whole-database write lock two
            # batches would both read a stream's cursor and both apply from it. Sorted, so
            # two processes locking overlapping sets never wait for each other in a cycle.
            session.lock_sites(_sites_of(parsed))
            # Liveness first: a last will later in the same batch still has the last word.
            for beat, received_at in parsed.heartbeats:
                self._guarded(
                    session,
                    careful,
                    f"heartbeat of {beat.site}",
                    partial(
                        liveness.apply_heartbeat,
                        session,
                        beat,
                        now,
                        self.liveness,
                        received_at=received_at,
                    ),
                )
            for site in sorted(parsed.heard - {b.site for b, _ in parsed.heartbeats}):
                last = self._heard_written.get(site)
                if last is not None and 0 <= now - last < liveness.HEARD_WRITE_EVERY_S:
                    continue  # written a moment ago; liveness is judged over tens of seconds
                self._heard_written[site] = now
                self._guarded(
                    session,
                    careful,
                    f"liveness of {site}",
                    partial(liveness.heard, session, site, now),
                )
            for status, live in parsed.statuses:
                self._heard_written.pop(status.site, None)  # the next message is news again
                self._guarded(
                    session,
                    careful,
                    f"status of {status.site}",
                    partial(
                        liveness.apply_status,
                        session,
                        status,
                        now,
                        live=live,
                        config=self.liveness,
                        source=f"site {status.site}",
                    ),
                )
            for snapshot, live in parsed.snapshots:
                self._guarded(
                    session,
                    careful,
                    f"state of {snapshot.site}",
                    partial(registry.apply_snapshot, session, snapshot, now, live=live),
                )
                if live:  # a replayed snapshot says nothing about the site's clock now
                    self._guarded(
                        session,
                        careful,
                        f"clock of {snapshot.site}",
                        partial(site_clock.judge_snapshot, session, snapshot, now, self.liveness),
                    )
            for reply in parsed.replies:
                self._guarded(
                    session,
                    careful,
                    f"reply from {reply.site}",
                    partial(self._reply, session, reply, now),
                )
            for site in sorted(parsed.events):
                run = self._sequencer.advance(
                    session, site, parsed.events[site], now, careful=careful
                )
                result.applied += run.applied
                result.duplicates += run.duplicates
                result.waiting += run.waiting
        result.other = (
            len(parsed.statuses)
            + len(parsed.snapshots)
            + len(parsed.replies)
            + len(parsed.heartbeats)
        )
        result.received = sum(len(v) for v in parsed.events.values())
        for events in parsed.events.values():
            for event, _json in events:
                result.types[event.payload.type] += 1
                result.event_at.append(event.at)
        return result

    @staticmethod
    def _reply(session: StoreSession, reply: Reply, now: float) -> None:
        record_reply(session, reply, now, f"site {reply.site} reply")
        if not reply.ok:
            refused_reservation(session, reply, now)

    def _guarded(
        self, session: StoreSession, careful: bool, what: str, work: Callable[[], object]
    ) -> None:
        if not careful:
            try:
                work()
            except self.store.errors:
                raise
            except Exception as exc:
                raise NeedsCare(what) from exc
            return
        try:
            with session.savepoint():
                work()
        except self.store.errors:
            raise
        except Exception:
            log.exception("could not apply the %s; it is set aside", what)


def _sites_of(parsed: ParsedBatch) -> list[str]:
    """Every site a batch's messages write about, in the one order all processes lock in."""
    sites = set(parsed.events) | parsed.heard
    sites.update(beat.site for beat, _ in parsed.heartbeats)
    sites.update(status.site for status, _ in parsed.statuses)
    sites.update(snapshot.site for snapshot, _ in parsed.snapshots)
    sites.update(reply.site for reply in parsed.replies)
    return sorted(sites)


def stream_of(store: CentralStore, site: str, epoch: str | None = None) -> StreamCursor:
    """The site's current stream (or the newest of `epoch`; '' for an agent without one)."""
    with store.transaction() as session:
        return session.stream(site, epoch)
