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
from dataclasses import replace

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
) -> bool:
    """Record that parcel `label` (a parsed label id) passed `milestone` at `at` (Unix s),
    as `source` says, in `session`'s transaction. `now` is central's time (Unix s);
    `location` and `detail` are the reporter's words. `owner` is the partner that reported
    it: a parcel this creates is that partner's (checking the caller may report on an
    existing parcel is the caller's job).

    Returns False if the parcel already had the milestone at that time or earlier (nothing
    changed), True if it was recorded or moved to an earlier time. Raises nothing for a
    late or repeated report; the lifecycle's IllegalTransition cannot occur (a step the
    table does not allow from the parcel's state is left out: the state never moves back).
    """
    record = MilestoneRecord(label, milestone.value, at, source, now, location, detail)
    before = session.get_milestone(label, milestone.value)
    if before is not None:
        if not session.move_milestone_earlier(record):
            return False
        if milestone is Milestone.DISPATCHED:
            _dispatch_moved(session, label, before.at, at, now)
        return True
    session.add_milestone(record)
    parcel = session.get_parcel(label)
    words = milestone.value + (f" at {location}" if location else "")
    if parcel is None:
        parcel = ParcelRecord(label=label, state=None, updated_at=now, owner=owner)
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
    _exception_alarms(session, record, milestone, words)
    return True


def _dispatch_moved(session: StoreSession, label: str, was: float, at: float, now: float) -> None:
    """Dispatch reported earlier than first heard: a dispatch time taken from it moves too."""
    parcel = session.get_parcel(label)
    if parcel is not None and parcel.dispatched_at == was:
        session.save_parcel(replace(parcel, dispatched_at=at, updated_at=now))


def _exception_alarms(
    session: StoreSession, record: MilestoneRecord, milestone: Milestone, words: str
) -> None:
    label, at, source = record.label, record.at, record.source
    site = alarm_site(label)
    if milestone is Milestone.DAMAGED:
        raise_alarm(session, site, AlarmKind.PARCEL_DAMAGED, at, detail=words, source=source)
    elif milestone is Milestone.IMPORT_CUSTOMS_HELD:
        # A hold heard after its release (feeds arrive out of order) is over already.
        if not any(session.get_milestone(label, m.value) for m in PAST_CUSTOMS):
            raise_alarm(session, site, AlarmKind.CUSTOMS_HELD, at, detail=words, source=source)
    elif milestone in PAST_CUSTOMS and session.get_milestone(
        label, Milestone.IMPORT_CUSTOMS_HELD.value
    ):
        # Only a parcel once held can have the alarm (a lookup by key, not an update).
        clear_alarm(session, site, AlarmKind.CUSTOMS_HELD, at)
