"""The deliveries aggregate on every store: attempts once per attempt key, the consumers'
one-time codes, couriers' handheld tokens, and a courier's round of home parcels."""

from __future__ import annotations

from central.parcels.lifecycle import ParcelState
from central.store.base import CentralStore
from central.store.queries.deliveries import (
    CourierTokenRecord,
    DeliveryAttemptRecord,
    DeliveryCodeRecord,
)
from central.store.records import ParcelRecord

T0 = 1_800_000_000.0


def _attempt(label: str, key: str, at: float, outcome: str = "failed") -> DeliveryAttemptRecord:
    return DeliveryAttemptRecord(
        label=label,
        courier="K1",
        at=at,
        outcome=outcome,
        attempt_key=key,
        source="courier K1 handheld t1",
        reason="nobody_home" if outcome == "failed" else None,
        proof_kind="photo" if outcome == "delivered" else None,
        proof_ref="photo://1.jpg" if outcome == "delivered" else None,
    )


def test_an_attempt_is_recorded_once_per_key_and_read_back_in_order(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        assert session.add_delivery_attempt(_attempt("P1", "key-2", T0 + 20, "delivered"))
        assert session.add_delivery_attempt(_attempt("P1", "key-1", T0 + 10))
        assert not session.add_delivery_attempt(_attempt("P2", "key-1", T0 + 30))
    with any_store.transaction() as session:
        attempts = session.delivery_attempts("P1")
        assert [(a.attempt_key, a.outcome) for a in attempts] == [
            ("key-1", "failed"),
            ("key-2", "delivered"),
        ]
        assert attempts[1].proof_ref == "photo://1.jpg" and attempts[0].reason == "nobody_home"
        found = session.delivery_attempt("key-1")
        assert found is not None and found.label == "P1"
        assert session.delivery_attempt("key-3") is None
        assert session.delivery_attempts("P2") == []
        assert session.delivery_outcomes() == {"delivered": 1, "failed": 1}


def test_a_parcels_code_is_replaced_and_dropped(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.set_delivery_code(DeliveryCodeRecord("P1", "aa", "K1", T0, T0 + 60))
        session.set_delivery_code(DeliveryCodeRecord("P1", "bb", "K2", T0 + 5, T0 + 65))
    with any_store.transaction() as session:
        assert session.delivery_code("P1") == DeliveryCodeRecord("P1", "bb", "K2", T0 + 5, T0 + 65)
        session.drop_delivery_code("P1")
        assert session.delivery_code("P1") is None


def test_a_handheld_token_is_kept_and_revoked_once(any_store: CentralStore) -> None:
    token = CourierTokenRecord("t1", "K1", "post", "ff" * 32, T0)
    with any_store.transaction() as session:
        session.add_courier_token(token)
    with any_store.transaction() as session:
        assert session.get_courier_token("t1") == token
        assert session.revoke_courier_token("t1", T0 + 1)
        assert not session.revoke_courier_token("t1", T0 + 2)
        assert not session.revoke_courier_token("nope", T0 + 2)
        revoked = session.get_courier_token("t1")
        assert revoked is not None and revoked.revoked_at == T0 + 1


def test_a_couriers_round_is_its_home_parcels_in_the_states_asked(
    any_store: CentralStore,
) -> None:
    rows = [
        ("P3", "home", "K1", ParcelState.OUT_FOR_DELIVERY),
        ("P1", "home", "K1", ParcelState.ASSIGNED),
        ("P2", "locker", "K1", ParcelState.ASSIGNED),
        ("P4", "home", "K2", ParcelState.ASSIGNED),
        ("P5", "home", "K1", ParcelState.DELIVERED),
    ]
    with any_store.transaction() as session:
        for label, mode, courier, state in rows:
            session.save_parcel(
                ParcelRecord(
                    label=label, state=state, delivery_mode=mode, courier=courier, updated_at=T0
                )
            )
    wanted = [ParcelState.ASSIGNED.value, ParcelState.OUT_FOR_DELIVERY.value]
    with any_store.transaction() as session:
        assert [p.label for p in session.courier_round("K1", wanted)] == ["P1", "P3"]
        assert [p.label for p in session.courier_round("K2", wanted)] == ["P4"]
        assert session.courier_round("K3", wanted) == []


def test_home_delivery_figures_count_each_parcel_once(any_store: CentralStore) -> None:
    from central.parcels.lifecycle import ParcelStep
    from central.store.records import StepRecord

    def step(label: str, step: ParcelStep, before: ParcelState, after: ParcelState) -> None:
        session.add_step(StepRecord(label, step, before, after, T0, "test", None, T0))

    S = ParcelState
    with any_store.transaction() as session:
        step("P1", ParcelStep.DELIVER, S.OUT_FOR_DELIVERY, S.DELIVERED)
        step("P2", ParcelStep.FAIL_ATTEMPT, S.OUT_FOR_DELIVERY, S.ATTEMPT_FAILED)
        step("P2", ParcelStep.REDIRECT, S.ATTEMPT_FAILED, S.REDIRECTED)
        step("P3", ParcelStep.FAIL_ATTEMPT, S.OUT_FOR_DELIVERY, S.ATTEMPT_FAILED)
        step("P3", ParcelStep.RETURN, S.ATTEMPT_FAILED, S.RETURNED)
        step("P4", ParcelStep.RETURN, S.REMOVED, S.RETURNED)  # not a home delivery's
        assert session.home_delivery_figures() == {
            "delivered": 1,
            "failed_redirected": 1,
            "failed_returned": 1,
        }
