"""Central's commands and the technician's actions as decisions (edge/site/commands.py,
technician.py) on a manual clock, without I/O: reserve, cancel, open (and the mass-open
breaker, and a stale open), revoke, mark for removal, service, maintenance."""

from __future__ import annotations

import secrets

import pytest

from edge.site import commands, technician
from edge.site.actions import CommandRefused, Unlock
from edge.site.slots import Trigger
from protocols.clock import ManualClock
from protocols.commands import DOOR_COMMAND_FRESH_S
from protocols.messages import (
    CancelReservation,
    Command,
    CommandBody,
    MarkForRemoval,
    OpenSlot,
    RemovalReason,
    ReplyReason,
    ReserveSlot,
    RevokeCode,
    SetSlotService,
    SiteKind,
    SizeClass,
    SlotFaultCode,
    SlotState,
)
from tests.edge.rig import labels
from tests.edge.site_twin import SITE, SiteTwin, rules, state, types_of

T0 = 1_800_000_000.0


class Site:
    def __init__(self, kind: SiteKind = SiteKind.LOCKER) -> None:
        self.clock = ManualClock(T0)
        self.rules = rules(kind, remote_open_limit=2, remote_open_window_s=600.0)
        self.state = state()
        self.twin = SiteTwin.of(self.rules)

    def command(self, body: CommandBody, issued_at: float | None = None) -> Command:
        at = self.clock.now() if issued_at is None else issued_at
        return Command(
            id=secrets.token_hex(8),
            site=SITE,
            issued_at=at,
            expires_at=at + 600,
            nonce=secrets.token_hex(8),
            body=body,
        )

    def run(self, body: CommandBody) -> tuple[list, dict | None]:
        now, now_m = self.clock.now(), self.clock.monotonic()
        actions, result = commands.decide(
            self.command(body),
            rules=self.rules,
            state=self.state,
            records=self.twin,
            now=now,
            now_m=now_m,
        )
        self.twin.carry_out(actions, self.state, now)
        return actions, result

    def refused(self, body: CommandBody) -> CommandRefused:
        with pytest.raises(CommandRefused) as caught:
            self.run(body)
        return caught.value


def test_a_reservation_holds_the_best_fitting_free_slot_and_a_repeat_gets_the_same() -> None:
    site = Site()
    (parcel,) = labels(1)
    reserve = ReserveSlot(parcel=parcel, size=SizeClass.M, until=T0 + 86400)
    _, result = site.run(reserve)
    assert result == {"slot": "A02"}
    assert site.twin.slot("A02").state is SlotState.RESERVED
    assert site.twin.expected(parcel).slot == "A02"
    assert site.run(reserve) == ([], {"slot": "A02"})


def test_a_reservation_for_a_parcel_already_here_or_already_collected() -> None:
    site = Site()
    here, collected = labels(2)
    site.twin.put("A01", state=SlotState.OCCUPIED, parcel=here)
    site.twin.used["0123456789abcdef"] = (collected, T0)
    assert site.run(ReserveSlot(parcel=here, size=SizeClass.S, until=T0 + 60))[1] == {
        "slot": "A01",
        "deposited": True,
    }
    late = ReserveSlot(parcel=collected, size=SizeClass.S, until=T0 + 60)
    assert site.refused(late).reason is ReplyReason.UNKNOWN_PARCEL


def test_no_slot_that_fits_is_no_capacity_and_an_unknown_slot_is_refused() -> None:
    site = Site()
    first, second = labels(2)
    site.twin.put("A04", state=SlotState.OUT_OF_SERVICE)
    xl = ReserveSlot(parcel=first, size=SizeClass.XL, until=T0 + 60)
    assert site.refused(xl).reason is ReplyReason.NO_CAPACITY
    chosen = ReserveSlot(parcel=second, size=SizeClass.S, until=T0 + 60, slot="Z99")
    assert site.refused(chosen).reason is ReplyReason.UNKNOWN_SLOT


def test_a_counter_reserves_shelf_space_until_the_shelves_are_full() -> None:
    site = Site(SiteKind.COUNTER)
    first, second = labels(2)
    site.twin.shelf.update({"RR1": "c", "RR2": "c"})
    assert site.refused(ReserveSlot(parcel=first, size=SizeClass.S, until=T0 + 60)).reason is (
        ReplyReason.NO_CAPACITY
    )
    site.twin.shelf.clear()
    assert site.run(ReserveSlot(parcel=second, size=SizeClass.S, until=T0 + 60))[1] == {
        "slot": "SHELF"
    }


def test_cancelling_a_reservation_frees_its_slot() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.run(ReserveSlot(parcel=parcel, size=SizeClass.S, until=T0 + 60))
    site.run(CancelReservation(parcel=parcel))
    assert site.twin.slot("A01").state is SlotState.FREE and site.twin.expected_ == {}
    assert site.refused(CancelReservation(parcel=parcel)).reason is ReplyReason.UNKNOWN_PARCEL


def test_a_remote_open_unlocks_and_the_breaker_stops_the_third_within_the_window() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.twin.put("A01", state=SlotState.OCCUPIED, parcel=parcel)
    actions, _ = site.run(OpenSlot(slot="A01", reason="courier stuck"))
    assert Unlock("A01", Trigger.CLOSED_OCCUPIED) in actions
    assert types_of(actions) == ["door_opened"]
    assert site.twin.slot("A01").state is SlotState.OPEN_FOR_REMOVAL
    site.run(OpenSlot(slot="A02", reason="check"))
    refused = site.refused(OpenSlot(slot="A03", reason="check"))
    assert refused.reason is ReplyReason.RATE_LIMITED
    assert types_of(refused.record) == ["remote_open_refused"]
    assert site.twin.slot("A03").state is SlotState.FREE
    # The window passes: central may open again.
    site.clock.advance(site.rules.remote_open_window_s + 1)
    assert site.run(OpenSlot(slot="A03", reason="check"))[0]


def test_a_maintenance_session_lets_the_breaker_stand_aside() -> None:
    site = Site()
    until = technician.open_maintenance(site.rules, site.state, site.clock.monotonic(), 60)
    assert until == site.clock.monotonic() + 60
    for slot in ("A01", "A02", "A03"):
        actions, _ = site.run(OpenSlot(slot=slot, reason="maintenance"))
        assert actions[1].event.reason.value == "maintenance"
    site.clock.advance(61)
    assert site.refused(OpenSlot(slot="A04", reason="x")).reason is ReplyReason.RATE_LIMITED


def test_a_door_command_that_arrives_late_is_stale() -> None:
    site = Site()
    late = site.command(OpenSlot(slot="A01", reason="x"), issued_at=T0 - DOOR_COMMAND_FRESH_S - 1)
    with pytest.raises(CommandRefused) as caught:
        commands.check_fresh(late, site.clock.now())
    assert caught.value.reason is ReplyReason.STALE
    slow_reserve = site.command(
        ReserveSlot(parcel=labels(1)[0], size=SizeClass.S, until=T0 + 60), issued_at=T0 - 3600
    )
    commands.check_fresh(slow_reserve, site.clock.now())  # only door commands go stale


def test_a_remote_open_of_a_slot_being_used_is_refused() -> None:
    site = Site()
    site.twin.put("A01", state=SlotState.OPEN_FOR_DEPOSIT)
    assert site.refused(OpenSlot(slot="A01", reason="x")).reason is ReplyReason.SLOT_UNAVAILABLE


def test_revoking_a_code_and_marking_parcels_for_removal() -> None:
    site = Site()
    here, gone = labels(2)
    site.twin.put("A01", state=SlotState.OCCUPIED, parcel=here)
    site.run(RevokeCode(parcel=here, code_id="0123456789abcdef"))
    assert site.twin.code_revoked("0123456789abcdef")
    _, result = site.run(MarkForRemoval(parcels=[here, gone], reason=RemovalReason.EXPIRED))
    assert result == {"marked": 1, "not_here": [gone]}
    assert site.twin.removals == {here: "expired"}


def test_taking_a_reserved_slot_out_of_service_gives_its_reservation_back() -> None:
    site = Site()
    (parcel,) = labels(1)
    site.run(ReserveSlot(parcel=parcel, size=SizeClass.S, until=T0 + 60))
    actions, _ = site.run(SetSlotService(slot="A01", in_service=False, reason="broken hinge"))
    assert types_of(actions) == ["slot_out_of_service"]
    assert site.twin.slot("A01").state is SlotState.OUT_OF_SERVICE
    assert site.run(SetSlotService(slot="A01", in_service=False, reason="again"))[0] == []


def test_a_slot_back_in_service_loses_its_faults() -> None:
    site = Site()
    site.twin.put("A02", state=SlotState.OUT_OF_SERVICE)
    site.state.faults.slots["A02"] = SlotFaultCode.IR_MISMATCH
    actions = technician.set_service(
        "A02", True, by="tech-1", reason="", rules=site.rules, records=site.twin
    )
    site.twin.carry_out(actions, site.state, T0)
    assert types_of(actions) == ["slot_back_in_service"]
    assert site.twin.slot("A02").state is SlotState.FREE and site.state.faults.slots == {}


def test_a_slot_with_its_door_open_cannot_be_taken_out_of_service() -> None:
    site = Site()
    site.twin.put("A03", state=SlotState.OPEN_FOR_PICKUP)
    body = SetSlotService(slot="A03", in_service=False, reason="x")
    assert site.refused(body).reason is ReplyReason.SLOT_UNAVAILABLE
    unknown = SetSlotService(slot="B01", in_service=False, reason="x")
    assert site.refused(unknown).reason is ReplyReason.UNKNOWN_SLOT
