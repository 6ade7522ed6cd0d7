"""Reservations: the placement rule against the store, told to the site as a signed command,
and lapsing when no parcel comes. (Never over-booked by racing threads or processes, on every
store: tests/central/store_contract/test_concurrency.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from central.capacity.reservations import Reservations
from central.parcels.steps import announce
from central.service.service import REPLACE_AFTER_S, CentralService
from central.sites import registry
from central.store import SqliteStore
from protocols.clock import ManualClock
from protocols.messages import Command, Reply, ReplyReason, SizeClass, SlotState
from tests.central.central_rig import Site, announcement, label, small_network, snapshot
from tests.eventually import eventually

NOW = 1_800_000_000.0
HOLD_S = 3600.0
# L0001 as its snapshot shows it: two S, two M, one L compartment, all free.
L0001_SLOTS = [
    ("A", SizeClass.S),
    ("B", SizeClass.S),
    ("C", SizeClass.M),
    ("D", SizeClass.M),
    ("E", SizeClass.L),
]


def prepared_store(path: Path, parcels: int, with_snapshot: bool = True) -> SqliteStore:
    store = SqliteStore(path)
    with store.transaction() as session:
        registry.load_network(session, small_network())
        if with_snapshot:
            registry.apply_snapshot(
                session,
                snapshot("L0001", [(s, size, SlotState.FREE, None) for s, size in L0001_SLOTS]),
                NOW,
            )
        for n in range(1, parcels + 1):
            announce(session, announcement(n, preferred_site="L0001"), NOW)
    return store


def test_the_chosen_locker_gets_the_best_fitting_free_slot(tmp_path: Path) -> None:
    store = prepared_store(tmp_path / "c.sqlite", 0)
    with store.transaction() as session:
        announce(session, announcement(1, size="M", preferred_site="L0001"), NOW)
    wave = Reservations(store, small_network(), HOLD_S).place([label(1)], NOW)
    assert (wave.lockers, wave.couriers_assigned) == (1, 1)
    with store.transaction() as session:
        reservation = session.held_reservation(label(1))
        assert reservation is not None
        assert (reservation.site, reservation.slot, reservation.until) == (
            "L0001",
            "C",
            NOW + HOLD_S,
        )
        steps = session.steps(label(1))
    assert [s.step for s in steps] == ["announce", "assign"]
    assert "chosen_locker: L0001 slot C M" in (steps[-1].detail or "")


def test_a_reservation_lapses_and_the_parcel_is_placed_again(tmp_path: Path) -> None:
    store = prepared_store(tmp_path / "c.sqlite", 1)
    reservations = Reservations(store, small_network(), HOLD_S)
    reservations.place([label(1)], NOW)
    assert reservations.lapse_due(NOW + HOLD_S - 1) == []
    assert reservations.lapse_due(NOW + HOLD_S) == [label(1)]
    with store.transaction() as session:
        record = session.get_parcel(label(1))
        assert record is not None and record.state == "announced"
        assert session.held_reservations() == []
    reservations.place([label(1)], NOW + HOLD_S)
    with store.transaction() as session:
        steps = [s.step for s in session.steps(label(1))]
    assert steps == ["announce", "assign", "reservation_lapsed", "assign"]


@pytest.mark.broker
def test_the_site_is_told_of_its_reservation_by_a_signed_command(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
) -> None:
    central = start_central()
    site = make_site("L0001")
    site.state(snapshot("L0001", [(s, size, SlotState.FREE, None) for s, size in L0001_SLOTS]))
    eventually(lambda: _has_slots(central))
    with central.store.transaction() as session:
        announce(session, announcement(1, preferred_site="L0001"), clock.now())
    clock.advance(REPLACE_AFTER_S)
    # The service places parcels left announced; the command reaches the site signed.
    [command] = eventually(lambda: site.commands_of("reserve_slot"), what="ReserveSlot")
    body = command.body
    assert (getattr(body, "parcel", None), getattr(body, "slot", None)) == (label(1), "A")
    assert command.expires_at == getattr(body, "until", None)
    assert site.refused == []


def _has_slots(central: CentralService) -> bool:
    with central.store.transaction() as session:
        return session.has_slots("L0001")


@pytest.mark.broker
def test_a_reservation_the_site_refuses_lapses_and_the_site_is_asked_for_its_state(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
) -> None:
    def refuse(command: Command) -> Reply | None:
        if command.body.type != "reserve_slot":
            return None
        return Reply(
            site="L0001",
            command_id=command.id,
            at=clock.now(),
            ok=False,
            reason=ReplyReason.NO_CAPACITY,
            detail="no free S slot",
        )

    central = start_central()
    site = make_site("L0001", auto_reply=refuse)
    site.state(snapshot("L0001", [(s, size, SlotState.FREE, None) for s, size in L0001_SLOTS]))
    eventually(lambda: _has_slots(central))
    with central.store.transaction() as session:
        announce(session, announcement(1, preferred_site="L0001"), clock.now())
    clock.advance(REPLACE_AFTER_S)
    eventually(lambda: site.commands_of("resend_state"), what="a state request after the refusal")
    with central.store.transaction() as session:
        steps = [(s.step, s.detail or "") for s in session.steps(label(1))]
        record = session.get_parcel(label(1))
    assert steps[-1][0] == "reservation_lapsed" and "no_capacity" in steps[-1][1]
    assert record is not None and record.state == "announced"
    [command] = [c for c in central.store_commands("L0001") if c.type == "reserve_slot"]
    assert (command.reply_ok, command.reply_reason) == (False, "no_capacity")
