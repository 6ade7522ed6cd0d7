"""Ingest: everything sites publish, committed in batches, each site's events applied once
and in sequence order.

The order of a site's events lives in the store, not in this process: with a shared
subscription, several central processes each receive part of one site's stream. Every event
is first stored as received under its (site, seq) key, so a redelivery is a no-op; then,
in the same transaction, a site's events are applied from its cursor on, strictly in seq
order, whether they arrived in this batch or earlier in another process's. Whichever process
commits the missing event applies the successors that were waiting for it. A gap that stays
open is asked for again (ResendState), and past a last limit given up on with an alarm.

The service acknowledges a batch's messages to the broker only after `commit` returned.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from central.capacity.reservations import refused_reservation
from central.service.config import IngestConfig, LivenessConfig
from central.sites import liveness, registry, site_clock, streams
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.commands import queue_command, record_reply
from central.sites.site_events import Counted, EventEffects
from central.store import CentralStore, StoredEvent, StoreSession, StreamCursor
from protocols.errors import MessageError, ProtocolError
from protocols.messages import (
    Event,
    Heartbeat,
    Reply,
    ResendState,
    SiteStatus,
    StateSnapshot,
    decode,
)
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    # A retained message the broker replayed on subscription (not published just now): a
    # replayed status is not evidence that its site is alive (central/sites/liveness.py).
    retained: bool = False
    # When central's network thread took it (central's clock), if known: a heartbeat's
    # clock offset is measured against this, not against the later batch commit.
    received_at: float | None = None


@dataclass
class IngestResult:
    received: int = 0  # events in the batch that were well-formed
    applied: int = 0
    duplicates: int = 0
    waiting: int = 0  # stored, waiting for an earlier event of their site
    rejected: int = 0
    other: int = 0  # status, state snapshots, replies
    replies: list[Reply] = field(default_factory=list)


@dataclass
class _Parsed:
    events: dict[str, list[tuple[Event, str]]] = field(default_factory=lambda: defaultdict(list))
    statuses: list[tuple[SiteStatus, bool]] = field(default_factory=list)  # (status, live)
    heartbeats: list[tuple[Heartbeat, float | None]] = field(default_factory=list)
    heard: set[str] = field(default_factory=set)  # sites heard live in this batch
    snapshots: list[tuple[StateSnapshot, bool]] = field(default_factory=list)  # (state, live)
    replies: list[Reply] = field(default_factory=list)
    rejected: int = 0


class _NeedsCare(Exception):
    """A message of the batch failed to apply: redo the batch message by message."""


@dataclass
class _SiteRun:
    applied: int = 0
    duplicates: int = 0
    waiting: int = 0


@dataclass
class Ingest:
    store: CentralStore
    topics: Topics
    effects: EventEffects
    config: IngestConfig
    totals: Counter[str] = field(default_factory=Counter)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    # When this process last wrote that it heard each site (central's clock): a busy site is
    # heard in every batch, and a write per site per batch cost a fifth of ingest's speed.
    _heard_written: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------------ batches

    def commit(self, batch: Sequence[Delivery], now: float) -> IngestResult:
        """Store and apply one batch in one transaction. Bad messages are counted, never
        raised: they must be acknowledged too, or the broker would send them forever."""
        parsed = self._parse(batch)
        try:
            result = self._store(parsed, now, careful=False)
        except _NeedsCare:
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

    def _parse(self, batch: Sequence[Delivery]) -> _Parsed:
        parsed = _Parsed()
        for delivery in batch:
            try:
                site, channel = self.topics.parse_site_topic(delivery.topic)
                if channel is SiteChannel.EVENTS:
                    event = decode(Event, delivery.payload)
                    _same_site(site, event.site, delivery.topic)
                    parsed.events[site].append((event, delivery.payload.decode()))
                elif channel is SiteChannel.STATUS:
                    if not delivery.payload:
                        continue  # a retained status being deleted
                    status = decode(SiteStatus, delivery.payload)
                    _same_site(site, status.site, delivery.topic)
                    parsed.statuses.append((status, not delivery.retained))
                elif channel is SiteChannel.STATE:
                    if not delivery.payload:
                        continue
                    snapshot = decode(StateSnapshot, delivery.payload)
                    _same_site(site, snapshot.site, delivery.topic)
                    parsed.snapshots.append((snapshot, not delivery.retained))
                elif channel is SiteChannel.REPLIES:
                    reply = decode(Reply, delivery.payload)
                    _same_site(site, reply.site, delivery.topic)
                    parsed.replies.append(reply)
                elif channel is SiteChannel.HEARTBEAT:
                    beat = decode(Heartbeat, delivery.payload)
                    _same_site(site, beat.site, delivery.topic)
                    parsed.heartbeats.append((beat, delivery.received_at))
                if channel is not SiteChannel.STATUS and not delivery.retained:
                    parsed.heard.add(site)
                # Anything else (our own commands, under a broad subscription) is not ours.
            except (ProtocolError, UnicodeDecodeError) as exc:
                parsed.rejected += 1
                log.warning("rejected message on %s: %s", delivery.topic, exc)
        return parsed

    def _store(self, parsed: _Parsed, now: float, careful: bool) -> IngestResult:
        result = IngestResult(rejected=parsed.rejected, replies=list(parsed.replies))
        with self.store.transaction() as session:
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
                run = self._advance(session, site, parsed.events[site], now, careful=careful)
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
                raise _NeedsCare(what) from exc
            return
        try:
            with session.savepoint():
                work()
        except self.store.errors:
            raise
        except Exception:
            log.exception("could not apply the %s; it is set aside", what)

    def _advance(
        self,
        session: StoreSession,
        site: str,
        received: Sequence[tuple[Event, str]],
        now: float,
        *,
        careful: bool = True,
    ) -> _SiteRun:
        """Store a site's newly received events, each in the stream it belongs to, and apply
        every one that is next in line there.

        An event is a duplicate only if central has stored its id. A new event is routed by
        its epoch (a new epoch starts a new stream) and, under a seq its stream already holds
        with another event, starts the stream again at that seq (a rewind): see
        central/sites/streams.py.
        """
        run = _SiteRun()
        known = session.known_event_ids(site, (event.id for event, _ in received))
        by_epoch: dict[str, list[tuple[Event, str]]] = defaultdict(list)
        for event, raw in received:
            if event.id in known:
                run.duplicates += 1
                continue
            known.add(event.id)
            by_epoch[streams.epoch_of(event.epoch)].append((event, raw))
        source = f"site {site} events"
        for epoch, events in by_epoch.items():
            cursor = streams.stream_for(session, site, epoch, now, source)
            batch: dict[int, tuple[Event, str]] = {}
            late: list[tuple[Event, str]] = []
            for event, raw in events:
                home = streams.earlier_stream(session, cursor, event.seq)
                if home is not None:
                    # An event the site wrote before a rewind, delivered after it (the
                    # broker or the outbox redelivered it late): it belongs to the stream it
                    # was written in. Taken for a second rewind, it started yet another
                    # stream whose next seq sat in the one before: a week's stall.
                    fresh_ = {} if event.seq <= home.applied_seq else {event.seq: (event, raw)}
                    late_ = [(event, raw)] if not fresh_ else []
                    self._advance_stream(
                        session, home, fresh_, late_, now, careful=careful, run=run
                    )
                    continue
                if event.seq in batch or streams.seq_taken(session, cursor, event.seq):
                    # A new event under a seq this stream holds: the site's store rewound.
                    self._advance_stream(
                        session, cursor, batch, late, now, careful=careful, run=run
                    )
                    cursor = streams.rewind(
                        session, session.stream(site, epoch), event.seq, now, source
                    )
                    batch, late = {}, []
                if event.seq <= cursor.applied_seq:
                    late.append((event, raw))  # given up on earlier: applied now, late
                else:
                    batch[event.seq] = (event, raw)
            self._advance_stream(session, cursor, batch, late, now, careful=careful, run=run)
        if run.duplicates:
            current = session.stream(site)
            if current.id is not None:
                session.save_stream(
                    dataclasses.replace(current, duplicates=current.duplicates + run.duplicates)
                )
        return run

    def _advance_stream(
        self,
        session: StoreSession,
        cursor: StreamCursor,
        fresh: dict[int, tuple[Event, str]],
        late: Sequence[tuple[Event, str]],
        now: float,
        *,
        careful: bool,
        run: _SiteRun,
        skip_to: int | None = None,
    ) -> None:
        """Store one stream's new events and apply every one that is next in line; `late`
        ones (under seqs given up on before) are applied at once."""
        assert cursor.id is not None, "a stream is saved before its events are"
        stream_id = cursor.id
        if skip_to is not None and skip_to > cursor.applied_seq:
            cursor = dataclasses.replace(
                cursor,
                applied_seq=skip_to,
                lost=cursor.lost + (skip_to - cursor.applied_seq),
            )
        stored: dict[int, StoredEvent] = {}
        if cursor.max_received_seq > cursor.applied_seq:
            stored = {e.seq: e for e in session.waiting_events(stream_id, cursor.applied_seq)}

        counts: Counter[Counted] = Counter()
        for event, _raw in late:
            counted = self._apply_one(session, event, now, careful)
            if counted is not None:
                counts[counted] += 1
        applied_fresh: set[int] = set()
        applied_stored: list[int] = []
        next_seq = cursor.applied_seq + 1
        while True:
            if next_seq in fresh:
                event = fresh[next_seq][0]
                applied_fresh.add(next_seq)
            elif next_seq in stored:
                event = decode(Event, stored[next_seq].payload)
                applied_stored.append(next_seq)
            else:
                break
            counted = self._apply_one(session, event, now, careful)
            if counted is not None:
                counts[counted] += 1
            next_seq += 1

        session.add_events(
            [
                StoredEvent(
                    site=cursor.site,
                    seq=seq,
                    event_id=event.id,
                    type=event.type,
                    at=event.at,
                    payload=raw,
                    received_at=now,
                    applied_at=now if seq in applied_fresh or late_ else None,
                    stream=stream_id,
                )
                for late_, items in (
                    (False, sorted(fresh.items())),
                    (True, [(e.seq, (e, r)) for e, r in late]),
                )
                for seq, (event, raw) in items
            ]
        )
        session.mark_applied(stream_id, applied_stored, now)
        applied_seq = next_seq - 1
        max_received = max(cursor.max_received_seq, max(fresh, default=0), applied_seq)
        progressed = applied_seq > cursor.applied_seq
        waiting = max_received > applied_seq
        if not waiting:
            gap_since, resend_at = None, None
        elif progressed or cursor.gap_since is None:
            gap_since, resend_at = now, cursor.resend_requested_at
        else:
            gap_since, resend_at = cursor.gap_since, cursor.resend_requested_at
        session.save_stream(
            dataclasses.replace(
                cursor,
                applied_seq=applied_seq,
                max_received_seq=max_received,
                gap_since=gap_since,
                resend_requested_at=resend_at,
                deposits=cursor.deposits + counts[Counted.DEPOSIT],
                pickups=cursor.pickups + counts[Counted.PICKUP],
                removals=cursor.removals + counts[Counted.REMOVAL],
            )
        )
        run.applied += len(applied_fresh) + len(applied_stored) + len(late)
        run.waiting += len(fresh) - len(applied_fresh)

    def _apply_one(
        self, session: StoreSession, event: Event, now: float, careful: bool
    ) -> Counted | None:
        if not careful:
            try:
                return self.effects.apply(session, event, now)
            except self.store.errors:
                raise
            except Exception as exc:
                raise _NeedsCare(f"event {event.site} {event.seq}") from exc
        # One event's effects in a savepoint: an event central cannot apply (a bug, or data
        # no rule foresaw) is logged and alarmed, and never blocks the events after it.
        try:
            with session.savepoint():
                return self.effects.apply(session, event, now)
        except self.store.errors:
            raise
        except Exception as exc:
            log.exception("could not apply event %s #%s (%s)", event.site, event.seq, event.type)
            raise_alarm(
                session,
                event.site,
                AlarmKind.EVENT_FAILED,
                now,
                ref=str(event.seq),
                detail=f"{event.type} could not be applied: {exc}"[:500],
                source=f"site {event.site} event {event.seq}",
            )
            return None

    # --------------------------------------------------------------------------- gaps

    def check_gaps(self, now: float) -> list[tuple[str, int]]:
        """Ask sites to resend what has been missing for longer than the gap timeout, and
        give up on what has been missing past the last limit. Returns (site, from_seq) of
        the resend requests queued."""
        requested: list[tuple[str, int]] = []
        with self.store.transaction() as session:
            for cursor in session.streams_waiting_since(now - self.config.gap_timeout_s):
                assert cursor.gap_since is not None
                # A closed stream's site has moved on to a new one and cannot resend it.
                if now - cursor.gap_since >= self.config.gap_give_up_s or not cursor.current:
                    self._give_up(session, cursor, now)
                    continue
                last = cursor.resend_requested_at
                if last is not None and now - last < self.config.gap_timeout_s:
                    continue
                from_seq = cursor.applied_seq + 1
                queue_command(
                    session,
                    cursor.site,
                    ResendState(from_seq=from_seq),
                    now,
                    expires_at=now + self.config.gap_timeout_s * 4,
                )
                session.save_stream(
                    dataclasses.replace(
                        cursor, resend_requested_at=now, resend_count=cursor.resend_count + 1
                    )
                )
                requested.append((cursor.site, from_seq))
        return requested

    def _give_up(self, session: StoreSession, cursor: StreamCursor, now: float) -> None:
        assert cursor.id is not None
        waiting = session.waiting_events(cursor.id, cursor.applied_seq, limit=1)
        if not waiting:
            self._drop_claim(session, cursor, now)
            return
        first_present = waiting[0].seq
        missing_to = first_present - 1
        raise_alarm(
            session,
            cursor.site,
            AlarmKind.EVENTS_LOST,
            now,
            ref=f"{cursor.epoch}:{cursor.applied_seq + 1}-{missing_to}".lstrip(":"),
            detail=f"events {cursor.applied_seq + 1}..{missing_to} never arrived "
            + (
                f"in {self.config.gap_give_up_s:.0f} s"
                if cursor.current
                else "before the site started a new stream"
            )
            + "; applied what followed",
            source="central gap check",
        )
        log.error(
            "site %s: giving up on events %s..%s", cursor.site, cursor.applied_seq + 1, missing_to
        )
        self._advance_stream(
            session, cursor, {}, [], now, careful=True, run=_SiteRun(), skip_to=missing_to
        )

    def _drop_claim(self, session: StoreSession, cursor: StreamCursor, now: float) -> None:
        # Nothing after the gap ever arrived: only a heartbeat's last_seq said the events
        # exist, and asked for them again and again the site sent none. Moving the cursor to
        # the claim would make every later event 'late', applied as it comes, never ordered,
        # no gap asked for again: a buggy or hostile heartbeat (last_seq 10**9) blinded the
        # stream for good. So the claim is dropped, not the cursor moved: the site's next
        # events are applied in order from where central is, and a hole before them is a
        # gap like any other. (The cost: events a heartbeat alone showed and the site cannot
        # resend hold the events after them for one more give-up period.)
        claimed = cursor.max_received_seq
        raise_alarm(
            session,
            cursor.site,
            AlarmKind.EVENTS_LOST,
            now,
            ref=f"{cursor.epoch}:{cursor.applied_seq + 1}-claimed".lstrip(":"),
            detail=f"the site's heartbeat said it wrote events up to {claimed}, but none after "
            f"{cursor.applied_seq} arrived, asked for again "
            + (
                f"for {self.config.gap_give_up_s:.0f} s"
                if cursor.current
                else "until the site started a new stream"
            )
            + "; central goes on from its next event",
            source="central gap check",
        )
        log.error(
            "site %s: its heartbeat claimed seq %s, nothing after %s came; claim dropped",
            cursor.site,
            claimed,
            cursor.applied_seq,
        )
        session.save_stream(
            dataclasses.replace(
                cursor,
                max_received_seq=cursor.applied_seq,
                gap_since=None,
                resend_requested_at=None,
            )
        )


def _same_site(topic_site: str, message_site: str, topic: str) -> None:
    # The broker's ACL lets a site publish only under its own topic; a message naming
    # another site is refused rather than believed.
    if topic_site != message_site:
        raise MessageError(f"message on {topic} claims to be from site {message_site}")


def stream_of(store: CentralStore, site: str, epoch: str | None = None) -> StreamCursor:
    """The site's current stream (or the newest of `epoch`; '' for an agent without one)."""
    with store.transaction() as session:
        return session.stream(site, epoch)
