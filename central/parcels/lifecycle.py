"""The parcel lifecycle as one transition table (h11-style: the states are data).

Every change of a parcel's state goes through `advance`, which either returns the next state
from `TRANSITIONS` or raises IllegalTransition. The store records each step with the time it
happened and its source, so `lockernet track` can print the timeline. `diagram()` renders
the table for the docs, so the picture can never drift from the code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from central.errors import IllegalTransition


class ParcelState(enum.StrEnum):
    ANNOUNCED = "announced"
    ASSIGNED = "assigned"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    REMINDED = "reminded"
    COLLECTED = "collected"
    EXPIRED = "expired"
    REMOVED = "removed"
    REDELIVERED = "redelivered"
    RETURNED = "returned"
    # Exceptions: something an operator must look at (a deposit central never heard of, a
    # courier who never came, a site fact that contradicts central's view).
    EXCEPTION = "exception"


class ParcelStep(enum.StrEnum):
    """What happens to a parcel; each step is recorded with its time and source."""

    ANNOUNCE = "announce"
    ASSIGN = "assign"
    HAND_TO_COURIER = "hand_to_courier"
    DEPOSIT = "deposit"
    REMIND = "remind"
    NOTIFY = "notify"  # a pickup code sent (or reissued): the state stays as it was
    PICK_UP = "pick_up"
    EXPIRE = "expire"
    REMOVE = "remove"
    REDELIVER = "redeliver"
    RETURN = "return"
    RESERVATION_LAPSED = "reservation_lapsed"
    FLAG_EXCEPTION = "flag_exception"
    RESOLVE = "resolve"


S = ParcelState


def _rows(
    step: ParcelStep, sources: Iterable[ParcelState | None], target: ParcelState
) -> dict[tuple[ParcelState | None, ParcelStep], ParcelState]:
    return {(source, step): target for source in sources}


# (state before, step) -> state after. `None` is "central has no record of the parcel yet".
TRANSITIONS: Mapping[tuple[ParcelState | None, ParcelStep], ParcelState] = {
    **_rows(ParcelStep.ANNOUNCE, [None], S.ANNOUNCED),
    **_rows(ParcelStep.ASSIGN, [S.ANNOUNCED, S.REDELIVERED], S.ASSIGNED),
    **_rows(ParcelStep.HAND_TO_COURIER, [S.ASSIGNED, S.REDELIVERED], S.OUT_FOR_DELIVERY),
    # A deposit is a fact reported by a site: it may come before central heard the parcel
    # was handed over (the courier's scan and the site's event race), or after an exception.
    **_rows(
        ParcelStep.DEPOSIT,
        [S.ANNOUNCED, S.ASSIGNED, S.OUT_FOR_DELIVERY, S.REDELIVERED, S.EXCEPTION],
        S.READY_FOR_PICKUP,
    ),
    **_rows(ParcelStep.REMIND, [S.READY_FOR_PICKUP], S.REMINDED),
    **_rows(ParcelStep.NOTIFY, [S.READY_FOR_PICKUP], S.READY_FOR_PICKUP),
    **_rows(ParcelStep.NOTIFY, [S.REMINDED], S.REMINDED),
    # A site that was offline may honour a code and tell central after the expiry sweep ran.
    **_rows(
        ParcelStep.PICK_UP, [S.READY_FOR_PICKUP, S.REMINDED, S.EXPIRED, S.EXCEPTION], S.COLLECTED
    ),
    **_rows(ParcelStep.EXPIRE, [S.READY_FOR_PICKUP, S.REMINDED], S.EXPIRED),
    **_rows(
        ParcelStep.REMOVE,
        [S.READY_FOR_PICKUP, S.REMINDED, S.EXPIRED, S.EXCEPTION],
        S.REMOVED,
    ),
    **_rows(ParcelStep.REDELIVER, [S.REMOVED], S.REDELIVERED),
    **_rows(ParcelStep.RETURN, [S.ANNOUNCED, S.ASSIGNED, S.REMOVED, S.EXCEPTION], S.RETURNED),
    # The reserved slot lapsed: an unstarted delivery is placed again; a parcel already on a
    # courier's van needs a person to find out what happened.
    **_rows(ParcelStep.RESERVATION_LAPSED, [S.ASSIGNED], S.ANNOUNCED),
    **_rows(ParcelStep.RESERVATION_LAPSED, [S.OUT_FOR_DELIVERY], S.EXCEPTION),
    # A site may report what contradicts central's view at any time, even of a parcel
    # central thought finished: the parcel becomes an exception for an operator.
    **_rows(ParcelStep.FLAG_EXCEPTION, [None, *ParcelState], S.EXCEPTION),
    **_rows(ParcelStep.RESOLVE, [S.EXCEPTION], S.ANNOUNCED),
}

FINAL_STATES = frozenset({S.COLLECTED, S.RETURNED})
# States in which a parcel sits in a slot or on a shelf waiting for its consumer.
WAITING_FOR_CONSUMER = frozenset({S.READY_FOR_PICKUP, S.REMINDED})


def next_state(state: ParcelState | None, step: ParcelStep) -> ParcelState | None:
    """The state after `step`, or None if the table does not allow it."""
    return TRANSITIONS.get((state, step))


def allowed_steps(state: ParcelState | None) -> list[ParcelStep]:
    return [step for (source, step) in TRANSITIONS if source == state]


@dataclass(frozen=True)
class Transition:
    label: str
    step: ParcelStep
    before: ParcelState | None
    after: ParcelState


def advance(label: str, state: ParcelState | None, step: ParcelStep) -> Transition:
    """The transition `step` makes from `state`; IllegalTransition if the table has none."""
    after = next_state(state, step)
    if after is None:
        raise IllegalTransition(label, state.value if state else None, step.value)
    return Transition(label, step, state, after)


def diagram() -> str:
    """The table as a Mermaid state diagram (for docs; generated, never hand-drawn)."""
    lines = ["stateDiagram-v2"]
    for (source, step), target in TRANSITIONS.items():
        lines.append(f"    {source.value if source else '[*]'} --> {target.value}: {step.value}")
    lines.extend(f"    {state.value} --> [*]" for state in sorted(FINAL_STATES))
    return "\n".join(lines)
