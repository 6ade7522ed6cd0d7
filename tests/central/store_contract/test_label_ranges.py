"""Partners' label ranges on both stores: registered once (a pattern is one partner's),
listed per partner or all, removed only by their partner; and a reassigned parcel's owner
read back."""

from __future__ import annotations

import dataclasses
import threading

import psycopg

from central.partners.keys import PartnerError
from central.partners.label_ranges import LabelRange
from central.partners.ownership import add_ranges
from central.store.base import CentralStore
from central.store.queries.partners import LabelRangeRecord, PartnerRecord
from tests.central.central_rig import label
from tests.central.store_contract.samples import T0, parcel
from tests.central.store_contract.stores import open_location
from tests.eventually import eventually


def test_label_ranges_are_one_partners_each_and_removed_by_it(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_partner(PartnerRecord("acme", "Acme Express", T0))
        session.add_partner(PartnerRecord("bolt", "Bolt", T0))
        assert session.add_label_range(LabelRangeRecord("RR*CN", "acme", T0))
        assert session.add_label_range(LabelRangeRecord("EE*SG", "bolt", T0 + 1))
        assert session.add_label_range(LabelRangeRecord("LP1234", "bolt", T0 + 2))
        # A pattern taken, by another partner or the same: nothing changes.
        assert not session.add_label_range(LabelRangeRecord("RR*CN", "bolt", T0 + 3))
        assert not session.add_label_range(LabelRangeRecord("EE*SG", "bolt", T0 + 3))
    with any_store.transaction() as session:
        assert session.label_ranges("bolt") == [
            LabelRangeRecord("EE*SG", "bolt", T0 + 1),
            LabelRangeRecord("LP1234", "bolt", T0 + 2),
        ]
        assert [(r.partner, r.pattern) for r in session.label_ranges()] == [
            ("acme", "RR*CN"),
            ("bolt", "EE*SG"),
            ("bolt", "LP1234"),
        ]
        assert not session.remove_label_range("acme", "EE*SG")  # not acme's
        assert session.remove_label_range("bolt", "EE*SG")
        assert not session.remove_label_range("bolt", "EE*SG")
    with any_store.transaction() as session:
        assert [r.pattern for r in session.label_ranges()] == ["RR*CN", "LP1234"]
        assert session.label_ranges("ghost") == []


def test_a_parcels_owner_changes_and_is_read_back(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1, owner="acme"))
    with any_store.transaction() as session:
        record = session.get_parcel(label(1))
        assert record is not None
        session.save_parcel(dataclasses.replace(record, owner="bolt", updated_at=T0 + 50))
    with any_store.transaction() as session:
        assert session.partner_parcel("acme", label(1)) is None
        moved = session.partner_parcel("bolt", label(1))
        assert moved == parcel(1, owner="bolt", updated_at=T0 + 50)


def test_other_partners_parcels_in_a_range_are_found(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1, owner="acme"))
        session.save_parcel(parcel(2, owner="bolt"))  # bolt's own
        session.save_parcel(parcel(3))  # the operator's import: nobody's
        session.save_parcel(parcel(4, owner="cargo"))
    with any_store.transaction() as session:
        s10 = "RR" + "_" * 9 + "CN"  # RR*CN as the range gives it
        assert session.others_parcels_like("bolt", s10, 10) == [
            (label(1), "acme"),
            (label(4), "cargo"),
        ]
        assert session.others_parcels_like("bolt", s10, 1) == [(label(1), "acme")]
        assert session.others_parcels_like("bolt", "RR" + "_" * 9 + "SG", 10) == []
        assert session.others_parcels_like("bolt", "RR0000000%", 10) == [
            (label(1), "acme"),
            (label(4), "cargo"),
        ]


def test_two_overlapping_ranges_registered_at_once_are_never_both_kept(
    any_store: CentralStore, store_location: str
) -> None:
    """Two operators (two processes) register overlapping, different ranges for two
    partners at the same moment: the second waits for the first and is refused."""
    with any_store.transaction() as session:
        session.add_partner(PartnerRecord("acme", "Acme Express", T0))
        session.add_partner(PartnerRecord("bolt", "Bolt", T0))
    first_in, release = threading.Event(), threading.Event()

    def first() -> None:
        with any_store.transaction() as session:
            add_ranges(session, "acme", [LabelRange.parse("LP12")], T0)
            first_in.set()
            release.wait(30)

    refused: list[PartnerError] = []
    other = open_location(store_location)

    def second() -> None:
        try:
            with other.transaction() as session:
                add_ranges(session, "bolt", [LabelRange.parse("LP1234")], T0)
        except PartnerError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    try:
        assert first_in.wait(10)
        threads[1].start()
        if store_location.startswith("postgresql://"):
            # Waiting for the first's lock, not passing the check beside it.
            eventually(lambda: waiting_for_a_lock(store_location), what="the second waits")
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
        other.close()
    assert len(refused) == 1 and "overlaps a range of partner acme" in str(refused[0])
    with any_store.transaction() as session:
        assert [(r.partner, r.pattern) for r in session.label_ranges()] == [("acme", "LP12")]


def waiting_for_a_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    return row is not None and row[0] > 0
