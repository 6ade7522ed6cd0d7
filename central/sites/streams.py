"""Which of a site's event streams a report belongs to, and when a stream starts again.

A site numbers its events with a seq that central orders by, but the numbering lives in the
site's store, and a store can be lost, replaced or rolled back. So each stream has an
identity, the epoch created with the store (`Event.epoch`, `StateSnapshot.epoch`), and
central orders a site's reports by (epoch, seq), never by the site's clock:

- A new epoch is a **restart**: the current stream is closed (what waits in it is applied
  by the gap check, which gives up on a closed stream at once: the site can no longer send
  it), a new one starts from seq 1, and STREAM_RESTARTED is raised. The first snapshot of
  the new stream replaces central's view of the site (see registry.apply_snapshot) and is
  reconciled with what central holds there (central/sites/site_reconciliation.py).
- A new event (an id central has not stored) under a seq central already holds for that
  epoch is a **rewind**: the store lost its last writes (a card that acknowledged writes it
  had not made) and numbers new events from a lower seq. The site cannot tell; central
  closes the stream and starts another for the same epoch at that seq, so the new events
  are applied once and in the site's order, and raises STREAM_REWOUND. What the lost writes
  had reported stays applied: those events did happen. Central asks for the site's state
  (ResendState): its snapshot reconciles the rewound stream as a restart's does.
- An event without an epoch comes from an agent older than epochs: it belongs to the site's
  legacy stream (epoch ''), which the first event with an epoch takes over (the same store,
  upgraded, numbers on).
"""

from __future__ import annotations

import dataclasses

from central.sites import revocations
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.commands import queue_command
from central.store import StoreSession, StreamCursor
from protocols.messages import ResendState, StateSnapshot

LEGACY_EPOCH = ""


def epoch_of(epoch: str | None) -> str:
    """The stream key of a message's epoch (None from an agent older than epochs)."""
    return LEGACY_EPOCH if epoch is None else epoch


def stream_for(
    session: StoreSession,
    site: str,
    epoch: str | None,
    now: float,
    source: str,
    *,
    resumes: bool = False,
) -> StreamCursor:
    """The stream a report of `epoch` belongs to, started if it is new.

    Returns the saved cursor: the site's current one, a new one (a restart: the previous
    stream is closed and STREAM_RESTARTED raised), or an older, closed stream of that epoch
    (a late report of a stream the site has left). `resumes`: the report is the site's live
    state, so a closed stream of its epoch is the site's again (a store put back): it is
    reopened, the current one closed.
    """
    key = epoch_of(epoch)
    current = session.stream(site)
    if current.id is None:
        # A site central never heard from: its store holds no revocation yet.
        revocations.queue_revocations_in_force(session, site, now)
        return session.save_stream(dataclasses.replace(current, epoch=key, started_at=now))
    if current.epoch == key:
        return current
    if current.epoch == LEGACY_EPOCH and current.cause == "first":
        # The same store, upgraded to an agent that sends its epoch: it numbers on. (Had the
        # store also been lost, its reused seqs show as a rewind.)
        return session.save_stream(dataclasses.replace(current, epoch=key))
    known = session.stream(site, key)
    if known.id is not None and not resumes:
        return known
    if known.id is not None:
        return _reopen(session, current, known, now, source)
    _close(session, current, now)
    raise_alarm(
        session,
        site,
        AlarmKind.STREAM_RESTARTED,
        now,
        ref=key,
        detail=f"new event stream {key or '(no epoch)'} after {current.epoch or '(no epoch)'}"
        f" at seq {current.applied_seq} applied: the site's store was lost, replaced or "
        "restored; its state is taken from its next snapshot",
        source=source,
    )
    _ask_state(session, site, now)
    # A new store (lost, replaced, a spare): the badges revoked before it are unknown to it.
    revocations.queue_revocations_in_force(session, site, now)
    return session.save_stream(
        StreamCursor(site, epoch=key, started_at=now, cause="restart", reconciled=False)
    )


def _reopen(
    session: StoreSession, current: StreamCursor, known: StreamCursor, now: float, source: str
) -> StreamCursor:
    # The repaired original Pi put back after a spare stood in (or a card swapped back): its
    # live state names a stream central had closed. Left closed, the site's own stream was
    # treated as one it had left: its snapshots ignored (central's slots frozen at the
    # spare's), every gap in it given up at once (events the broker lost never asked for),
    # its heartbeats' last_seq unheard. It is the site's stream again, numbering on; its
    # snapshot reconciles it (reservations made meanwhile are sent to it).
    _close(session, current, now)
    raise_alarm(
        session,
        current.site,
        AlarmKind.STREAM_RESTARTED,
        now,
        ref=known.epoch,
        detail=f"the site is back on event stream {known.epoch or '(no epoch)'} (left at seq "
        f"{known.applied_seq} applied) after {current.epoch or '(no epoch)'}: a store put back; "
        "its state is taken from this snapshot",
        source=source,
    )
    # Badges revoked while it was away went to the store that stood in: it has none of them.
    revocations.queue_revocations_in_force(session, current.site, now)
    return session.save_stream(
        dataclasses.replace(known, closed_at=None, started_at=now, reconciled=False)
    )


def rewind(
    session: StoreSession, current: StreamCursor, seq: int, now: float, source: str
) -> StreamCursor:
    """A new event under a seq the stream already holds: start the stream again at `seq`."""
    _close(session, current, now)
    raise_alarm(
        session,
        current.site,
        AlarmKind.STREAM_REWOUND,
        now,
        ref=f"{current.epoch}:{seq}",
        detail=f"a new event reuses seq {seq} of stream {current.epoch or '(no epoch)'} "
        f"(central had applied up to {current.applied_seq}): the site's store lost its last "
        "writes; what they reported stays applied, the new events are applied after it",
        source=source,
    )
    _ask_state(session, current.site, now)
    return session.save_stream(
        StreamCursor(
            current.site,
            epoch=current.epoch,
            base_seq=seq,
            applied_seq=seq - 1,
            max_received_seq=seq - 1,
            started_at=now,
            cause="rewind",
            reconciled=False,
        )
    )


def taken_before_next(session: StoreSession, stream: StreamCursor, snapshot: StateSnapshot) -> bool:
    """Whether a snapshot behind `stream` (its last_seq below what central applied) was
    simply taken before the first event it has not seen: that event is stamped at or after
    the snapshot by the same site clock.

    Two central processes share a site's messages: a snapshot the site published just before
    writing an event may be committed by one process after the other applied the event. It
    is old news, not a store that lost writes. A rolled-back store's snapshot is taken after
    the events it lost, so it is still judged behind (and a clock stepped back as well is
    caught when the store's next event reuses a seq: a rewind)."""
    if stream.id is None:
        return False
    following = session.get_event(stream.id, snapshot.last_seq + 1)
    return following is not None and snapshot.at <= following.at


def _ask_state(session: StoreSession, site: str, now: float) -> None:
    # The new stream is reconciled from its first snapshot (central/sites/site_reconciliation.py).
    # A rewind is seen only at the first new event, after the site's snapshot of the
    # reconnect was applied; a restart may be seen at an event too: ask for a snapshot now.
    queue_command(session, site, ResendState(), now)


def _close(session: StoreSession, stream: StreamCursor, now: float) -> None:
    # Anything the site said it wrote and central has not applied is waited for no longer
    # than the next gap check: gap_since set makes it give up on a closed stream at once.
    waiting = stream.max_received_seq > stream.applied_seq
    session.save_stream(
        dataclasses.replace(
            stream,
            closed_at=now,
            gap_since=(stream.gap_since or now) if waiting else None,
        )
    )


def earlier_stream(session: StoreSession, cursor: StreamCursor, seq: int) -> StreamCursor | None:
    """The closed stream of the same epoch a new event under `seq` (before `cursor`
    began) was written in: the newest earlier one that began at or before `seq` and
    holds no event there. None if there is none (the event is a deeper rewind)."""
    if cursor.id is None or seq >= cursor.base_seq:
        return None
    # A rare path (an event from before a rewind): reading all streams is affordable.
    earlier = [
        s
        for s in session.list_streams()
        if s.site == cursor.site and s.epoch == cursor.epoch and s.id != cursor.id
    ]
    for stream in sorted(earlier, key=lambda s: s.id or 0, reverse=True):
        if stream.base_seq <= seq and stream.id is not None:
            return stream if session.get_event(stream.id, seq) is None else None
    return None


def seq_taken(session: StoreSession, cursor: StreamCursor, seq: int) -> bool:
    """Whether the stream already holds another event under `seq` (or `seq` is before it
    began: a rewind further back than the last one)."""
    if seq < cursor.base_seq:
        return True
    if cursor.id is None or seq > cursor.max_received_seq:
        return False
    return session.get_event(cursor.id, seq) is not None
