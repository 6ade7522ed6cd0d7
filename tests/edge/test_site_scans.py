"""The scan decisions (edge/site/scans.py, counter.py) on a manual clock, without I/O.

Pickups (ok, wrong site, used, expired, revoked, lockout), the courier's badge and deposit
session, removals at a locker, and the counter's shelf flow.
"""

from __future__ import annotations

import os

import pytest

from edge.site import doors, scans
from edge.site.actions import Move, Refused, Unlock
from edge.site.lockout import Admission
from edge.site.records import Expected
from edge.site.slots import Trigger
from protocols.clock import ManualClock
from protocols.messages import ScanRefusal, SiteKind, SizeClass, SlotState
from protocols.tokens import CourierBadge, PickupCode, TokenSigner
from tests.edge.rig import labels
from tests.edge.site_twin import SITE, SiteTwin, rules, state, types_of

T0 = 1_800_000_000.0


class Site:
    """One site's rules, state and records, a signer standing in for central, a clock."""

    def __init__(self, kind: SiteKind = SiteKind.LOCKER) -> None:
        self.clock = ManualClock(T0)
        self.signer = TokenSigner.generate()
        self.rules = rules(kind)
        self.state = state()
        self.twin = SiteTwin.of(self.rules)

    def code(self, parcel: str, site: str = SITE, expires_in: float = 3600) -> str:
        expires = int(self.clock.now() + expires_in)
        return self.signer.pickup_code(PickupCode(site, parcel, expires, os.urandom(8)))

    def badge(self, courier: str = "courier-7") -> str:
        now = int(self.clock.now())
        return self.signer.courier_badge(
            CourierBadge(courier, "post", now - 60, now + 3600, os.urandom(8))
        )

    def scan(self, text: str) -> list:
        """Decide a scan and carry its actions out on the twin (the unlock succeeding)."""
        now, now_m = self.clock.now(), self.clock.monotonic()
        actions = scans.decide(
            text,
            rules=self.rules,
            state=self.state,
            records=self.twin,
            verifier=self.signer.verifier(),
            now=now,
            now_m=now_m,
        )
        self.twin.carry_out(actions, self.state, now)
        for unlock in [a for a in actions if isinstance(a, Unlock)]:
            done = doors.unlocked(unlock.slot, self.state, now_m, unlock.retrying_fault)
            self.twin.carry_out(done + doors.released(unlock.slot), self.state, now)
        return actions

    def refused(self, text: str) -> Refused:
        with pytest.raises(Refused) as caught:
            self.scan(text)
        return caught.value

    def hold(self, slot: str, parcel: str) -> None:
        self.twin.put(slot, state=SlotState.OCCUPIED, parcel=parcel)

    def expect(self, parcel: str, size: SizeClass = SizeClass.M, slot: str | None = None) -> None:
        self.twin.expected_[parcel] = Expected(parcel, size, slot, T0 + 86400)


def test_a_valid_pickup_code_opens_the_slot_holding_the_parcel() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.hold("A02", parcel)
    actions = site.scan(site.code(parcel))
    assert Unlock("A02", Trigger.CLOSED_OCCUPIED) in actions
    assert types_of(actions) == ["door_opened"]
    assert site.twin.slot("A02").state is SlotState.OPEN_FOR_PICKUP
    assert "A02" in site.state.doors.open


@pytest.mark.parametrize(
    ("site_id", "expires_in", "reason"),
    [
        ("L0002", 3600, ScanRefusal.WRONG_SITE),
        (SITE, -10, ScanRefusal.EXPIRED),
    ],
)
def test_a_code_for_another_site_or_expired_opens_nothing(site_id, expires_in, reason) -> None:
    site = Site()
    (parcel,) = labels(1)
    site.hold("A02", parcel)
    refusal = site.refused(site.code(parcel, site=site_id, expires_in=expires_in))
    assert refusal.reason is reason
    assert site.twin.slot("A02").state is SlotState.OCCUPIED


def test_a_used_code_or_a_revoked_one_opens_nothing() -> None:
    site = Site()
    first, second = labels(2)
    site.hold("A01", first)
    site.hold("A02", second)
    used, revoked = site.code(first), site.code(second)
    verifier = site.signer.verifier()
    site.twin.used[verifier.pickup_code(used, SITE, T0).code_id] = (first, T0)
    site.twin.revoked.add(verifier.pickup_code(revoked, SITE, T0).code_id)
    assert site.refused(used).reason is ScanRefusal.ALREADY_USED
    assert site.refused(revoked).reason is ScanRefusal.REVOKED


def test_a_pickup_on_a_board_that_is_down_opens_nothing() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.hold("A02", parcel)
    site.state.boards.down.add(0)
    assert site.refused(site.code(parcel)).reason is ScanRefusal.PARCEL_NOT_HERE


def test_a_lock_that_failed_before_is_tried_again_and_its_fault_clears() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.hold("A02", parcel)
    failed = doors.unlock_failed("A02", Trigger.CLOSED_OCCUPIED, "stuck", True, T0)
    site.twin.carry_out([Move("A02", Trigger.OPEN_FOR_PICKUP), *failed], site.state, T0)
    assert site.twin.slot("A02").state is SlotState.FAULT
    assert ("lock", "A02", "lock_wont_release") in site.state.faults.active
    actions = site.scan(site.code(parcel))
    assert actions[0] == Move("A02", Trigger.FAULT_CLEARED_OCCUPIED)
    assert site.state.faults.active == {} and site.state.faults.slots == {}
    assert site.twin.types()[-1] == "fault_cleared"


def test_guessed_codes_lock_the_scanner_out_and_valid_ones_never_count() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.hold("A02", parcel)
    # A signed code for another site cannot be guessed: it never counts.
    for _ in range(5):
        text = site.code(parcel, site="L0002")
        decision = site.state.lockout.admit(text, site.clock.monotonic())
        refusal = site.refused(text)
        said = scans.refusal(refusal, decision, site.state, T0, site.clock.monotonic())
        assert said
        site.twin.carry_out(said, site.state, T0)  # counted (or not) once recorded
    assert not site.state.lockout.locked_out(site.clock.monotonic())
    written = []
    for i in range(3):  # the policy's limit: three guesses within the window
        text = f"LNP:guess{i}"
        decision = site.state.lockout.admit(text, site.clock.monotonic())
        said = scans.refusal(site.refused(text), decision, site.state, T0, site.clock.monotonic())
        site.twin.carry_out(said, site.state, T0)
        written += types_of(said)
        site.clock.advance(1)
    assert written == ["scan_refused"] * 3 + ["scanner_locked_out"]
    admitted = site.state.lockout.admit(site.code(parcel), site.clock.monotonic())
    assert admitted.admission is Admission.LOCKED_OUT


def test_a_label_without_a_courier_badge_opens_nothing() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.expect(parcel)
    assert site.refused(parcel).reason is ScanRefusal.NO_BADGE


def test_a_courier_session_deposits_into_the_reserved_slot_then_the_best_fit() -> None:
    site = Site()
    reserved, unreserved = labels(2)
    site.twin.put("A03", state=SlotState.RESERVED, reserved_for=reserved)
    site.expect(reserved, SizeClass.M, "A03")
    site.expect(unreserved, SizeClass.S)
    assert site.scan(site.badge()) == []
    assert site.state.courier is not None and site.state.courier.courier == "courier-7"
    assert Unlock("A03", Trigger.CLOSED_EMPTY) in site.scan(reserved)
    assert Unlock("A01", Trigger.CLOSED_EMPTY) in site.scan(unreserved)
    assert site.twin.slot("A01").open_ref == unreserved
    assert site.twin.slot("A01").opened_by == "courier-7"


def test_the_courier_session_lapses_without_scans() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.expect(parcel)
    site.scan(site.badge())
    site.clock.advance(site.rules.courier_session_s + 1)
    assert site.refused(parcel).reason is ScanRefusal.NO_BADGE
    assert site.state.courier is None


def test_no_free_slot_that_fits_refuses_the_label() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.expect(parcel, SizeClass.XL)
    site.twin.put("A04", state=SlotState.OUT_OF_SERVICE)
    site.scan(site.badge())
    assert site.refused(parcel).reason is ScanRefusal.NO_FREE_SLOT


def test_an_unknown_label_counts_as_a_guess_a_known_one_does_not() -> None:
    site = Site()
    here, stranger = labels(2)
    site.hold("A01", here)
    site.scan(site.badge())
    unknown = site.refused(stranger)
    assert unknown.reason is ScanRefusal.UNKNOWN_LABEL and unknown.guessing is None
    known = site.refused(here)
    assert known.reason is ScanRefusal.UNKNOWN_LABEL and known.guessing is False


def test_a_parcel_marked_for_removal_is_taken_back_by_its_label() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.hold("A02", parcel)
    site.twin.removals[parcel] = "expired"
    site.scan(site.badge())
    actions = site.scan(parcel)
    assert Unlock("A02", Trigger.CLOSED_OCCUPIED) in actions
    record = site.twin.slot("A02")
    assert record.state is SlotState.OPEN_FOR_REMOVAL and record.open_ref == "expired"
    site.clock.advance(5)
    closed = doors.door_closed(record, False, site.twin, None, site.clock.monotonic())
    site.twin.carry_out(closed, site.state, site.clock.now())
    assert types_of(closed) == ["door_closed", "parcel_removed"]
    assert site.twin.removals == {} and site.twin.slot("A02").state is SlotState.FREE


def test_the_counter_checks_parcels_in_until_the_shelves_are_full_then_hands_over() -> None:
    site = Site(SiteKind.COUNTER)
    first, second, third = labels(3)
    for parcel in (first, second, third):
        site.expect(parcel)
    site.scan(site.badge())
    assert types_of(site.scan(first)) == ["parcel_deposited"]
    site.scan(second)
    assert site.refused(third).reason is ScanRefusal.NO_FREE_SLOT
    assert site.refused(first).reason is ScanRefusal.UNKNOWN_LABEL  # already checked in
    handed = site.scan(site.code(first))
    assert types_of(handed) == ["parcel_picked_up"]
    assert not any(isinstance(a, Unlock) for a in handed)
    assert site.twin.shelved() == 1
    assert scans.served(scans.scan_kind(first), site.rules, None, refused=False)


def test_the_counter_gives_a_parcel_marked_for_removal_back_to_the_courier() -> None:
    site = Site(SiteKind.COUNTER)
    (parcel,) = labels(1)
    site.twin.shelf[parcel] = "courier-1"
    site.twin.removals[parcel] = "expired"
    site.scan(site.badge())
    assert types_of(site.scan(parcel)) == ["parcel_removed"]
    assert site.twin.shelved() == 0 and site.twin.removals == {}
