"""Recording a cross-border milestone a partner or carrier reported (central/parcels/
milestones.py lists them), whichever way it came: a file drop, `lockernet parcels events`,
the partner API.

The rules, so that feeds may repeat themselves and arrive in any order:

- Idempotent: a parcel has each milestone once. The same milestone reported again is
  nothing new. Reported again with an *earlier* event time, the earlier time and its source
  replace the stored ones (a milestone happens once: the first sighting is when it happened;
  a later time is a carrier's re-scan); a later time changes nothing.
- Out of order: every milestone is kept by its event time; the parcel's `milestone` is the
  furthest reached (Milestone.rank), and its state never moves backwards: a milestone of a
  parcel already announced, placed or collected is history on its timeline.
- Attributed: each carries its source (a file and row, a partner, a carrier), shown on
  `lockernet track`.

Effects beyond the timeline: a milestone of a label central has not heard of starts the
parcel in transit (announcement later moves it on, keeping the history); DISPATCHED gives a
parcel without one its dispatch time (the 72-hour promise starts there); LOST and
RETURNED_TO_ORIGIN end the journey where the lifecycle allows it; a customs hold and damage
raise alarms, and a customs release (or any sign the parcel got past customs) clears the
hold's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from central.parcels.lifecycle import ParcelStep, next_state
from central.parcels.milestones import Milestone, furthest
from central.parcels.steps import state_of, take_step
from central.sites.alarms import AlarmKind, clear_alarm, raise_alarm
from central.store import ParcelRecord, StoreSession
from central.store.queries.milestones import MilestoneRecord

log = logging.getLogger(__name__)

# Milestones that end the journey: the lifecycle step each takes, where the table allows it.
ENDING_STEPS: dict[Milestone, ParcelStep] = {
    Milestone.LOST: ParcelStep.LOSE,
    Milestone.RETURNED_TO_ORIGIN: ParcelStep.RETURN_TO_ORIGIN,
}
# Any of these says the parcel is past import customs: a hold is over.
PAST_CUSTOMS = frozenset(
    {
        Milestone.IMPORT_CUSTOMS_RELEASED,
        Milestone.IMPORT_CUSTOMS_CLEARED,
        Milestone.ARRIVED_AT_HUB,
        Milestone.HANDED_TO_PARTNER,
    }
)


def alarm_site(label: str) -> str:
    """The `site` of a parcel's alarm ("parcel:<label>"): alarms are kept per place."""
    return f"parcel:{label}"


@dataclass
class KnownChunk:
    """A chunk of a feed's parcels and their milestones, read at once (`read_chunk`) while
    the transaction holds every one of the parcels, and kept current by what
    `record_milestone` writes: its reads cost no round trip. `parcels` by label (a parcel
    central had not heard of is a bare row, state None); `milestones` by (label, milestone)."""

    parcels: dict[str, ParcelRecord]
    milestones: dict[tuple[str, str], MilestoneRecord]


@runtime_checkable
class ChunkReads(Protocol):
    """A session that reads a chunk's parcels and milestones in one query each."""

    def lock_parcels(
        self, labels: Iterable[str], *, create_owner: str | None = None, now: float = 0.0
    ) -> dict[str, ParcelRecord]: ...

    def drop_bare_parcels(self, labels: Iterable[str]) -> None: ...

    def milestones_of(self, labels: Iterable[str]) -> dict[tuple[str, str], MilestoneRecord]: ...

    def save_milestone(self, record: MilestoneRecord) -> None: ...


def read_chunk(
    session: ChunkReads, labels: Iterable[str], now: float, owner: str | None = None
) -> KnownChunk:
    """Hold the parcels `labels` (in label order; one central has not heard of gets a bare
    row owned by `owner`, made `now`), then read their milestones: no one else records a
    milestone of a held parcel (every recorder takes the parcel first), so what is read
    stays true until the transaction ends. Call `finish_chunk` before committing."""
    wanted = set(labels)
    parcels = session.lock_parcels(wanted, create_owner=owner, now=now)
    return KnownChunk(parcels, session.milestones_of(wanted))


def finish_chunk(session: ChunkReads, known: KnownChunk) -> None:
    """Drop a bare row that nothing recorded gave a state (only if none of its reports was
    new: a milestone stored for a parcel central no longer has)."""
    bare = [label for label, parcel in known.parcels.items() if parcel.state is None]
    if bare:
        session.drop_bare_parcels(bare)


def record_milestone(
    session: StoreSession,
    label: str,
    milestone: Milestone,
    *,
    at: float,
    source: str,
    now: float,
    location: str | None = None,
    detail: str | None = None,
    owner: str | None = None,
    known: KnownChunk | None = None,
) -> bool:
    """Record that parcel `label` (a parsed label id) passed `milestone` at `at` (Unix s),
    as `source` says, in `session`'s transaction. `now` is central's time (Unix s);
    `location` and `detail` are the reporter's words. `owner` is the partner that reported
    it: a parcel this creates is that partner's (checking the caller may report on an
    existing parcel is the caller's job). `known`: the parcel's chunk read by `read_chunk`
    in this transaction (then nothing is read from the store), else the parcel is taken
    first and its milestone read after.

    Returns False if the parcel already had the milestone at that time or earlier (nothing
    changed), True if it was recorded or moved to an earlier time. Raises nothing for a
    late or repeated report; the lifecycle's IllegalTransition cannot occur (a step the
    table does not allow from the parcel's state is left out: the state never moves back).
    ValueError if `known` is given without this parcel in it.
    """
    record = MilestoneRecord(label, milestone.value, at, source, now, location, detail)
    if known is not None:
        return _record_known(session, known, record, milestone, owner)
    # The parcel before its milestones, as a chunk takes them (read_chunk).
    parcel = session.get_parcel(label)
    before = session.get_milestone(label, milestone.value)
    if before is not None:
        if not session.move_milestone_earlier(record):
            return False
        if milestone is Milestone.DISPATCHED:
            _dispatch_moved(session, parcel, before.at, at, now)
        return True
    if not session.add_milestone(record):
        return False  # recorded meanwhile by another process (a parcel not yet held)
    if parcel is None:
        parcel = session.get_parcel(label)  # created meanwhile by another process?
    if parcel is None:
        parcel = ParcelRecord(label=label, state=None, updated_at=now, owner=owner)
    _apply(session, parcel, record, milestone, lambda m: session.get_milestone(label, m.value))
    return True


def _record_known(
    session: StoreSession,
    known: KnownChunk,
    record: MilestoneRecord,
    milestone: Milestone,
    owner: str | None,
) -> bool:
    """record_milestone against a chunk read by `read_chunk`, keeping it current."""
    assert isinstance(session, ChunkReads)
    label, key = record.label, (record.label, record.milestone)
    before = known.milestones.get(key)
    parcel = known.parcels.get(label)
    if parcel is None:
        raise ValueError(f"parcel {label} is not in the chunk read for it (read_chunk)")
    if before is not None and before.at <= record.at:
        return False
    session.save_milestone(record)
    if before is not None:
        known.milestones[key] = replace(record, received_at=before.received_at)
        if milestone is Milestone.DISPATCHED:
            moved = _dispatch_moved(session, parcel, before.at, record.at, record.received_at)
            known.parcels[label] = moved or parcel
        return True
    known.milestones[key] = record
    if parcel.state is None and parcel.owner is None and owner is not None:
        parcel = replace(parcel, owner=owner)
    known.parcels[label] = _apply(
        session, parcel, record, milestone, lambda m: known.milestones.get((label, m.value))
    )
    return True


def _apply(
    session: StoreSession,
    parcel: ParcelRecord,
    record: MilestoneRecord,
    milestone: Milestone,
    stored: Callable[[Milestone], MilestoneRecord | None],
) -> ParcelRecord:
    """A new milestone's effects on its parcel (the step, an ending, alarms); `stored` reads
    another milestone of the parcel. Returns the parcel as saved."""
    label, at, source, now = record.label, record.at, record.source, record.received_at
    words = milestone.value + (f" at {record.location}" if record.location else "")
    changes: dict[str, object] = {"milestone": furthest(parcel.milestone, milestone).value}
    if milestone is Milestone.DISPATCHED and parcel.dispatched_at is None:
        changes["dispatched_at"] = at
    parcel = take_step(
        session,
        parcel,
        ParcelStep.MILESTONE,
        at=at,
        source=source,
        now=now,
        detail=words,
        **changes,
    )
    ending = ENDING_STEPS.get(milestone)
    if ending is not None:
        if next_state(state_of(parcel), ending) is not None:
            parcel = take_step(session, parcel, ending, at=at, source=source, now=now, detail=words)
        else:
            # Too late to change anything (announced and on its way, or collected): the
            # milestone stays on the timeline for a person to look at.
            log.info(
                "parcel %s reported %s while %s: kept as history", label, milestone, parcel.state
            )
    _exception_alarms(session, record, milestone, words, stored)
    return parcel


def _dispatch_moved(
    session: StoreSession, parcel: ParcelRecord | None, was: float, at: float, now: float
) -> ParcelRecord | None:
    """Dispatch reported earlier than first heard: a dispatch time taken from it moves too.
    Returns the parcel as it now is."""
    if parcel is not None and parcel.dispatched_at == was:
        parcel = replace(parcel, dispatched_at=at, updated_at=now)
        session.save_parcel(parcel)
    return parcel


def _exception_alarms(
    session: StoreSession,
    record: MilestoneRecord,
    milestone: Milestone,
    words: str,
    stored: Callable[[Milestone], MilestoneRecord | None],
) -> None:
    label, at, source = record.label, record.at, record.source
    site = alarm_site(label)
    if milestone is Milestone.DAMAGED:
        raise_alarm(session, site, AlarmKind.PARCEL_DAMAGED, at, detail=words, source=source)
    elif milestone is Milestone.IMPORT_CUSTOMS_HELD:
        # A hold heard after its release (feeds arrive out of order) is over already.
        if not any(stored(m) for m in PAST_CUSTOMS):
            raise_alarm(session, site, AlarmKind.CUSTOMS_HELD, at, detail=words, source=source)
    elif milestone in PAST_CUSTOMS and stored(Milestone.IMPORT_CUSTOMS_HELD):
        # Only a parcel once held can have the alarm (a lookup by key, not an update).
        clear_alarm(session, site, AlarmKind.CUSTOMS_HELD, at)
