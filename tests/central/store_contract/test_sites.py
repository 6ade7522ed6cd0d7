"""The sites aggregate on every store: sites, their liveness, their slots and free capacity."""

from __future__ import annotations

import dataclasses

from central.store.base import CentralStore
from central.store.records import LivenessRecord, ReservationStatus
from protocols.messages import SiteKind, SlotState
from tests.central.central_rig import label
from tests.central.store_contract.samples import SITE, T0, reservation, site, slot


def test_a_site_comes_back_as_saved_and_saving_again_replaces_it(any_store: CentralStore) -> None:
    full = site()
    bare = site("C0001", kind=None, name=None, lat=None, online=None, faults=(), compartments={})
    with any_store.transaction() as session:
        session.save_site(full)
        session.save_site(bare)
    with any_store.transaction() as session:
        assert session.get_site(SITE) == full
        assert session.get_site("C0001") == bare
        assert session.get_site("L9999") is None
        assert [s.site for s in session.list_sites()] == ["C0001", SITE]
        changed = dataclasses.replace(full, online=False, faults=(), broker=None)
        session.save_site(changed)
    with any_store.transaction() as session:
        assert session.get_site(SITE) == changed
        assert len(session.list_sites()) == 2


def test_a_sites_kind_and_faults_come_back_typed(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_site(site())
    with any_store.transaction() as session:
        record = session.get_site(SITE)
    assert record is not None
    assert record.kind is SiteKind.LOCKER
    assert record.faults[0].code == "no_reply" and record.faults[0].ref == "2"
    assert dict(record.compartments) == {"S": 2, "M": 2, "L": 1}


def test_liveness_comes_back_as_saved_one_row_per_site(any_store: CentralStore) -> None:
    first = LivenessRecord(SITE, T0, T0 - 0.5, 15.0, -0.25, stale=True, time_sent_at=T0 - 60)
    other = LivenessRecord("C0001", T0 + 1)
    with any_store.transaction() as session:
        session.save_liveness(first)
        session.save_liveness(other)
        assert session.get_liveness(SITE) == first
        newer = dataclasses.replace(first, heard_at=T0 + 9, stale=False)
        session.save_liveness(newer)
    with any_store.transaction() as session:
        assert session.get_liveness(SITE) == newer
        assert session.get_liveness("L9999") is None
        assert session.list_liveness() == [other, newer]


def test_slots_are_listed_by_name_and_replaced_as_a_whole(any_store: CentralStore) -> None:
    b = slot("B", occupied=True, parcel="RR000000015CN", door="closed", state=SlotState.OCCUPIED)
    a = slot("A", reserved_for="RR000000029CN", occupied=False, state=SlotState.RESERVED)
    with any_store.transaction() as session:
        assert not session.has_slots(SITE)
        session.save_slot(b)
        session.save_slot(a)
        session.save_slot(slot("Z", site_id="L0002"))
    with any_store.transaction() as session:
        assert session.list_slots(SITE) == [a, b]
        assert session.get_slot(SITE, "B") == b
        assert session.get_slot(SITE, "Q") is None
        assert session.get_slot(SITE, "A").state is SlotState.RESERVED  # type: ignore[union-attr]
        assert session.has_slots(SITE)
        session.replace_slots(SITE, [slot("C"), slot("D")])
    with any_store.transaction() as session:
        assert [s.slot for s in session.list_slots(SITE)] == ["C", "D"]
        assert [s.slot for s in session.list_slots("L0002")] == ["Z"]  # another site's stay


def test_free_slots_are_those_free_and_held_by_no_reservation(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        for name in "ABC":
            session.save_slot(slot(name))
        session.save_slot(slot("D", state=SlotState.OCCUPIED))
        session.save_slot(slot("E", size="M"))
        session.save_slot(slot("F", site_id="L0002"))
        held = session.add_reservation(reservation(1, "A"))
        ended = session.add_reservation(reservation(2, "B"))
        assert ended.id is not None and held.id is not None
        session.set_reservation(ended.id, ReservationStatus.LAPSED, None)  # B is free again
    with any_store.transaction() as session:
        assert session.free_slots(SITE, "S") == ["B", "C"]
        assert session.free_slots(SITE, "M") == ["E"]
        assert session.free_slots(SITE, "XL") == []
        assert sorted(session.free_slot_counts()) == [
            (SITE, "M", 1),
            (SITE, "S", 2),
            ("L0002", "S", 1),
        ]
        assert sorted(session.slot_state_counts()) == [
            (SITE, "free", 4),
            (SITE, "occupied", 1),
            ("L0002", "free", 1),
        ]


def test_held_count_counts_held_reservations_by_size_and_those_no_slot_shows(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        session.save_slot(slot("A", state=SlotState.RESERVED, reserved_for=label(3)))
        session.add_reservation(reservation(1, "B"))  # named by central: placed
        session.add_reservation(reservation(2, None, size="M"))  # unplaced
        session.add_reservation(reservation(3, None))  # the site's slot A shows it: placed
        done = session.add_reservation(reservation(4, None))
        session.set_reservation(done.id or 0, ReservationStatus.FULFILLED, "cmd-4")
        session.add_reservation(reservation(5, None, site_id="C0001"))
    with any_store.transaction() as session:
        assert session.held_count(SITE) == 3
        assert session.held_count(SITE, "S") == 2
        assert session.held_count(SITE, "M") == 1
        assert session.held_count(SITE, unplaced=True) == 1
        assert session.held_count(SITE, "S", unplaced=True) == 0
        assert session.held_count("C0001") == 1
        assert session.held_count("L0404") == 0
