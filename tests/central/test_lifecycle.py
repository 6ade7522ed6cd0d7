"""The parcel lifecycle table: the legal paths, and a clear refusal of anything else."""

from __future__ import annotations

import pytest

from central.errors import IllegalTransition
from central.parcels.lifecycle import (
    FINAL_STATES,
    TRANSITIONS,
    ParcelState,
    ParcelStep,
    advance,
    allowed_steps,
    diagram,
    next_state,
)

S, P = ParcelState, ParcelStep


def walk(*steps: ParcelStep) -> ParcelState | None:
    state: ParcelState | None = None
    for step in steps:
        state = advance("RR123456785CN", state, step).after
    return state


def test_the_happy_path_from_announcement_to_the_consumers_hands() -> None:
    assert (
        walk(P.ANNOUNCE, P.ASSIGN, P.HAND_TO_COURIER, P.DEPOSIT, P.NOTIFY, P.REMIND, P.PICK_UP)
        is S.COLLECTED
    )


def test_expiry_removal_and_then_redelivery_or_return() -> None:
    expired = (P.ANNOUNCE, P.ASSIGN, P.DEPOSIT, P.EXPIRE, P.REMOVE)
    assert walk(*expired, P.RETURN) is S.RETURNED
    assert walk(*expired, P.REDELIVER, P.ASSIGN, P.DEPOSIT) is S.READY_FOR_PICKUP


def test_an_illegal_step_is_refused_with_the_parcel_state_and_step_named() -> None:
    with pytest.raises(IllegalTransition) as caught:
        advance("RR123456785CN", S.ANNOUNCED, P.PICK_UP)
    assert "RR123456785CN" in str(caught.value)
    assert "pick_up" in str(caught.value) and "announced" in str(caught.value)


def test_a_collected_parcel_cannot_be_collected_again() -> None:
    assert next_state(S.COLLECTED, P.PICK_UP) is None
    # A late cross-border milestone is still recorded (it changes no state).
    assert set(allowed_steps(S.COLLECTED)) == {P.FLAG_EXCEPTION, P.MILESTONE}
    assert next_state(S.COLLECTED, P.MILESTONE) is S.COLLECTED


def test_a_lapsed_reservation_sends_an_unstarted_parcel_back_to_placement() -> None:
    assert next_state(S.ASSIGNED, P.RESERVATION_LAPSED) is S.ANNOUNCED
    assert next_state(S.OUT_FOR_DELIVERY, P.RESERVATION_LAPSED) is S.EXCEPTION


def test_every_state_is_reachable_and_every_non_final_state_has_a_way_on() -> None:
    reachable = {target for target in TRANSITIONS.values()}
    assert reachable == set(ParcelState)
    for state in ParcelState:
        if state not in FINAL_STATES:
            onward = [
                step
                for step in allowed_steps(state)
                if step is not P.FLAG_EXCEPTION and next_state(state, step) is not state
            ]
            assert onward, state


def test_the_diagram_is_generated_from_the_table() -> None:
    text = diagram()
    assert text.count("-->") == len(TRANSITIONS) + len(FINAL_STATES)
    assert "ready_for_pickup --> collected: pick_up" in text
