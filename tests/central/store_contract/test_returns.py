"""Consumers' return labels on every store: issued, found by id and by label, listed by
partner, dropped off once."""

from __future__ import annotations

import pytest

from central.store.base import CentralStore
from central.store.queries.returns import ReturnLabelRecord
from tests.central.store_contract.samples import SITE, T0


def issued(return_id: str, label: str, partner: str, at: float) -> ReturnLabelRecord:
    return ReturnLabelRecord(return_id, label, partner, "M", at, at + 14 * 86_400, site=SITE)


def test_return_labels_are_found_listed_and_dropped_off_once(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_return_label(issued("ret-2", "RR000000002SG", "acme", T0 + 2))
        session.add_return_label(issued("ret-1", "RR000000001SG", "bolt", T0 + 1))
        session.add_return_label(issued("ret-3", "RR000000003SG", "acme", T0 + 3))
    with any_store.transaction() as session:
        assert session.set_return_dropped("ret-2", site=SITE, slot="A03", at=T0 + 9, receipt="R-1")
        # The same drop-off reported again changes nothing (the first receipt stands).
        assert not session.set_return_dropped(
            "ret-2", site=SITE, slot="A04", at=T0 + 10, receipt="R-2"
        )
        assert not session.set_return_dropped("ret-9", site=SITE, slot="A03", at=T0, receipt="R")
    with any_store.transaction() as session:
        assert [r.return_id for r in session.list_return_labels()] == ["ret-1", "ret-2", "ret-3"]
        assert [r.return_id for r in session.list_return_labels("acme")] == ["ret-2", "ret-3"]
        dropped = session.return_label_for("RR000000002SG")
        assert dropped is not None
        assert (
            dropped.dropped_at,
            dropped.dropped_site,
            dropped.dropped_slot,
            dropped.receipt,
        ) == (
            T0 + 9,
            SITE,
            "A03",
            "R-1",
        )
        assert session.get_return_label("ret-3") == issued("ret-3", "RR000000003SG", "acme", T0 + 3)
        assert session.get_return_label("ret-9") is None
        assert session.return_label_for("RR000000009SG") is None


def test_a_label_is_issued_once(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_return_label(issued("ret-1", "RR000000001SG", "acme", T0))
    # Either store's own integrity error: the label's UNIQUE constraint holds.
    with (
        pytest.raises(Exception, match=r"(?i)unique|duplicate"),
        any_store.transaction() as session,
    ):
        session.add_return_label(issued("ret-2", "RR000000001SG", "acme", T0))
    with any_store.transaction() as session:
        assert [r.return_id for r in session.list_return_labels()] == ["ret-1"]
