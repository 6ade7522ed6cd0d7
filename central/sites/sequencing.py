"""Each site's events applied once and in sequence order, stream by stream.

Every event is first stored as received under its (stream, seq) key, so a redelivery is a
no-op; then, in the same transaction, a stream's events are applied from its cursor on,
strictly in seq order, whether they arrived in this batch or earlier in another process's.
Whichever process commits the missing event applies the successors that were waiting for it.
Which stream an event belongs to (a new epoch, a rewind, a late event of a closed stream) is
decided in central/sites/streams.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from central.sites import streams
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.site_events import Counted, EventEffects
from central.store import StoredEvent, StoreSession, StreamCursor
from protocols.messages import Event, decode

log = logging.getLogger(__name__)


class NeedsCare(Exception):
    """A message of the batch failed to apply: redo the batch message by message."""


@dataclass
class SiteRun:
    """What one site's part of a batch came to."""

    applied: int = 0
    duplicates: int = 0
    waiting: int = 0


@dataclass
class Sequencer:
    """Stores a site's received events and applies each one that is next in line.

    `careful` False applies everything straight and raises NeedsCare at the first failure;
    True applies each event in a savepoint of its own, so an event central cannot apply is set
    aside with an alarm and never blocks the events after it.
    """

    effects: EventEffects
    # The store's own failures (the disk, a lock timeout): raised as they are, for the
    # caller to retry the whole transaction; never blamed on an event.
    store_errors: tuple[type[Exception], ...]

    def advance(
        self,
        session: StoreSession,
        site: str,
        received: Sequence[tuple[Event, str]],
        now: float,
        *,
        careful: bool = True,
    ) -> SiteRun:
        """Store a site's newly received events, each in the stream it belongs to, and apply
        every one that is next in line there.

        An event is a duplicate only if central has stored its id. A new event is routed by
        its epoch (a new epoch starts a new stream) and, under a seq its stream already holds
        with another event, starts the stream again at that seq (a rewind): see
        central/sites/streams.py.
        """
        run = SiteRun()
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
                    self.advance_stream(session, home, fresh_, late_, now, careful=careful, run=run)
                    continue
                if event.seq in batch or streams.seq_taken(session, cursor, event.seq):
                    # A new event under a seq this stream holds: the site's store rewound.
                    self.advance_stream(session, cursor, batch, late, now, careful=careful, run=run)
                    cursor = streams.rewind(
                        session, session.stream(site, epoch), event.seq, now, source
                    )
                    batch, late = {}, []
                if event.seq <= cursor.applied_seq:
                    late.append((event, raw))  # given up on earlier: applied now, late
                else:
                    batch[event.seq] = (event, raw)
            self.advance_stream(session, cursor, batch, late, now, careful=careful, run=run)
        if run.duplicates:
            current = session.stream(site)
            if current.id is not None:
                session.save_stream(
                    dataclasses.replace(current, duplicates=current.duplicates + run.duplicates)
                )
        return run

    def advance_stream(
        self,
        session: StoreSession,
        cursor: StreamCursor,
        fresh: dict[int, tuple[Event, str]],
        late: Sequence[tuple[Event, str]],
        now: float,
        *,
        careful: bool,
        run: SiteRun,
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
            except self.store_errors:
                raise
            except Exception as exc:
                raise NeedsCare(f"event {event.site} {event.seq}") from exc
        # One event's effects in a savepoint: an event central cannot apply (a bug, or data
        # no rule foresaw) is logged and alarmed, and never blocks the events after it.
        try:
            with session.savepoint():
                return self.effects.apply(session, event, now)
        except self.store_errors:
            raise
        except Exception as exc:
            log.exception("could not apply event %s #%s (%s)", event.site, event.seq, event.type)
            raise_alarm(
                session,
                event.site,
                AlarmKind.EVENT_FAILED,
                now,
                ref=str(event.seq),
                detail=f"{event.type} could not be applied: {exc}",
                source=f"site {event.site} event {event.seq}",
            )
            return None
