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
    # Known from the cross-border milestones only (origin, linehaul, customs, the hub): not
    # yet announced by a manifest for delivery in Singapore.
    IN_TRANSIT = "in_transit"
    ANNOUNCED = "announced"
    ASSIGNED = "assigned"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    REMINDED = "reminded"
    COLLECTED = "collected"
    # Home delivery: handed to the consumer at the door, with a proof.
    DELIVERED = "delivered"
    # A home delivery attempt failed (nobody home, address not found, refused): the parcel
    # is redirected to a locker or collection point, or returned.
    ATTEMPT_FAILED = "attempt_failed"
    REDIRECTED = "redirected"
    EXPIRED = "expired"
    REMOVED = "removed"
    REDELIVERED = "redelivered"
    # Back with the delivery partner (undeliverable, or a consumer's return received).
    RETURNED = "returned"
    # A consumer's return: its label issued by a partner, then dropped off at a locker or a
    # counter, then collected by a courier on its way back to the partner.
    RETURN_ISSUED = "return_issued"
    RETURN_DROPPED_OFF = "return_dropped_off"
    RETURN_COLLECTED = "return_collected"
    # The cross-border journey ended it: lost in transit, or sent back to the origin.
    LOST = "lost"
    RETURNED_TO_ORIGIN = "returned_to_origin"
    # Exceptions: something an operator must look at (a deposit central never heard of, a
    # courier who never came, a site fact that contradicts central's view, a damaged parcel).
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
    # A cross-border milestone (central/parcels/milestones.py says which): recorded on the
    # timeline by its event time; it never moves the parcel's state backwards.
    MILESTONE = "milestone"
    LOSE = "lose"  # lost in transit (a carrier's or partner's milestone)
    RETURN_TO_ORIGIN = "return_to_origin"
    # Home delivery by a courier's handheld.
    DELIVER = "deliver"
    FAIL_ATTEMPT = "fail_attempt"
    REDIRECT = "redirect"
    # A consumer's return.
    ISSUE_RETURN = "issue_return"
    DROP_OFF_RETURN = "drop_off_return"
    COLLECT_RETURN = "collect_return"
    RECEIVE_RETURN = "receive_return"


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
    **_rows(ParcelStep.RESERVATION_LAPSED, [S.OUT_FOR_DELIVERY, S.REDIRECTED], S.EXCEPTION),
    # A site may report what contradicts central's view at any time, even of a parcel
    # central thought finished: the parcel becomes an exception for an operator.
    **_rows(ParcelStep.FLAG_EXCEPTION, [None, *ParcelState], S.EXCEPTION),
    **_rows(ParcelStep.RESOLVE, [S.EXCEPTION], S.ANNOUNCED),
    # ---- before Singapore: milestones from partners and carriers. A milestone of a parcel
    # central has not heard of starts it in transit; of any other it changes no state (it
    # is history, possibly late: the state never moves backwards).
    **_rows(ParcelStep.MILESTONE, [None], S.IN_TRANSIT),
    **{(state, ParcelStep.MILESTONE): state for state in ParcelState},
    **_rows(ParcelStep.ANNOUNCE, [S.IN_TRANSIT], S.ANNOUNCED),
    **_rows(
        ParcelStep.LOSE,
        [None, S.IN_TRANSIT, S.ANNOUNCED, S.ASSIGNED, S.OUT_FOR_DELIVERY, S.EXCEPTION],
        S.LOST,
    ),
    **_rows(
        ParcelStep.RETURN_TO_ORIGIN,
        [None, S.IN_TRANSIT, S.ANNOUNCED, S.EXCEPTION],
        S.RETURNED_TO_ORIGIN,
    ),
    # ---- home delivery
    **_rows(ParcelStep.DELIVER, [S.OUT_FOR_DELIVERY], S.DELIVERED),
    **_rows(ParcelStep.FAIL_ATTEMPT, [S.OUT_FOR_DELIVERY], S.ATTEMPT_FAILED),
    **_rows(ParcelStep.REDIRECT, [S.ATTEMPT_FAILED], S.REDIRECTED),
    **_rows(ParcelStep.ASSIGN, [S.REDIRECTED], S.ASSIGNED),
    **_rows(ParcelStep.HAND_TO_COURIER, [S.ATTEMPT_FAILED], S.OUT_FOR_DELIVERY),  # a retry
    **_rows(ParcelStep.DEPOSIT, [S.REDIRECTED], S.READY_FOR_PICKUP),
    **_rows(ParcelStep.RETURN, [S.ATTEMPT_FAILED, S.REDIRECTED], S.RETURNED),
    # ---- a consumer's return
    **_rows(ParcelStep.ISSUE_RETURN, [None], S.RETURN_ISSUED),
    **_rows(ParcelStep.DROP_OFF_RETURN, [S.RETURN_ISSUED], S.RETURN_DROPPED_OFF),
    **_rows(ParcelStep.COLLECT_RETURN, [S.RETURN_DROPPED_OFF], S.RETURN_COLLECTED),
    **_rows(ParcelStep.RECEIVE_RETURN, [S.RETURN_COLLECTED], S.RETURNED),
}

FINAL_STATES = frozenset({S.COLLECTED, S.DELIVERED, S.RETURNED, S.LOST, S.RETURNED_TO_ORIGIN})
# States in which a parcel sits in a slot or on a shelf waiting for its consumer.
WAITING_FOR_CONSUMER = frozenset({S.READY_FOR_PICKUP, S.REMINDED})
# States in which a parcel waits for central or a courier to move it on (not for its
# consumer, an operator or a carrier abroad): one left in them when the day's rounds are done
# is stuck (the simulator's verdict fails on it).
AWAITING_THE_NETWORK = frozenset(
    {S.ANNOUNCED, S.ASSIGNED, S.OUT_FOR_DELIVERY, S.ATTEMPT_FAILED, S.REDIRECTED, S.REDELIVERED}
)


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
