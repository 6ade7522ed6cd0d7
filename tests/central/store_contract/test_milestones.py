"""Cross-border milestones on both stores: each once per parcel, by event time, moved only
to an earlier time, and read back through the read path."""

from __future__ import annotations

from central.store.base import CentralStore
from central.store.open import open_reader
from central.store.queries.milestones import MilestoneRecord
from tests.central.central_rig import label
from tests.central.store_contract.samples import T0

A = label(1)
B = label(2)


def test_a_milestone_is_stored_once_and_read_in_event_order(
    any_store: CentralStore, store_location: str
) -> None:
    dispatched = MilestoneRecord(A, "dispatched", T0 - 50, "file a.csv row 2", T0, "PVG", None)
    accepted = MilestoneRecord(A, "accepted_at_origin", T0 - 90, "partner acme", T0 + 1)
    with any_store.transaction() as session:
        assert session.add_milestone(dispatched)
        assert session.add_milestone(accepted)  # came later, happened earlier
        # The same milestone again, even from another source and time, is not a second row.
        again = MilestoneRecord(A, "dispatched", T0 - 40, "partner acme", T0 + 2)
        assert not session.add_milestone(again)
        assert session.add_milestone(MilestoneRecord(B, "dispatched", T0, "carrier x", T0))
    with open_reader(store_location) as reader:
        assert reader.view.milestones(A) == [accepted, dispatched]
        assert reader.view.get_milestone(A, "dispatched") == dispatched
        assert reader.view.get_milestone(A, "lost") is None
        assert reader.view.milestones(label(3)) == []


def test_a_milestone_moves_only_to_an_earlier_time_keeping_when_it_was_first_heard(
    any_store: CentralStore,
) -> None:
    first = MilestoneRecord(A, "arrived_at_hub", T0, "file a.csv row 2", T0 + 10, "SIN")
    with any_store.transaction() as session:
        session.add_milestone(first)
        later = MilestoneRecord(A, "arrived_at_hub", T0 + 5, "carrier y", T0 + 20)
        assert not session.move_milestone_earlier(later)
        assert session.get_milestone(A, "arrived_at_hub") == first
        earlier = MilestoneRecord(A, "arrived_at_hub", T0 - 5, "carrier y", T0 + 30, "SIN2", "d")
        assert session.move_milestone_earlier(earlier)
    with any_store.transaction() as session:
        assert session.get_milestone(A, "arrived_at_hub") == MilestoneRecord(
            A, "arrived_at_hub", T0 - 5, "carrier y", T0 + 10, "SIN2", "d"
        )
