"""Courier badges and refused-scan counts on every store."""

from __future__ import annotations

from central.store.base import CentralStore
from central.store.queries.badges import BadgeRecord
from tests.central.store_contract.samples import SITE, T0


def badge(badge_id: str, courier: str, issued_at: float) -> BadgeRecord:
    return BadgeRecord(badge_id, courier, "post", T0, T0 + 86_400, issued_at, "ops")


def test_badges_are_listed_by_courier_and_revoked_once(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_badge(badge("00000000000000b2", "ann", T0 + 2))
        session.add_badge(badge("00000000000000b1", "bob", T0 + 1))
        session.add_badge(badge("00000000000000b3", "ann", T0 + 3))
    with any_store.transaction() as session:
        assert session.revoke_badge("00000000000000b2", "lead", T0 + 10)
        assert not session.revoke_badge("00000000000000b2", "other", T0 + 11)  # once only
        assert not session.revoke_badge("00000000000000ff", "lead", T0 + 11)  # unknown
    with any_store.transaction() as session:
        assert [b.badge_id for b in session.list_badges()] == [
            "00000000000000b1",
            "00000000000000b3",
        ]
        every = session.list_badges(include_revoked=True, courier="ann")
        assert [b.badge_id for b in every] == ["00000000000000b2", "00000000000000b3"]
        revoked = session.get_badge("00000000000000b2")
        assert revoked is not None
        assert (revoked.revoked_at, revoked.revoked_by) == (T0 + 10, "lead")
        assert session.get_badge("00000000000000b3") == badge("00000000000000b3", "ann", T0 + 3)
        assert session.get_badge("00000000000000ff") is None


def test_refusals_count_by_site_and_reason_keeping_the_newest_detail(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        session.count_refusal(SITE, "bad_signature", T0 + 5, "newest")
        session.count_refusal(SITE, "bad_signature", T0 + 1, "older, counted late")
        session.count_refusal(SITE, "expired", T0 + 2, None)
        session.count_refusal("L0002", "expired", T0 + 3, "other site")
    with any_store.transaction() as session:
        mine = session.scan_refusals(SITE)
        assert [(r.reason, r.count, r.last_at, r.last_detail) for r in mine] == [
            ("bad_signature", 2, T0 + 5, "newest"),
            ("expired", 1, T0 + 2, None),
        ]
        assert [(r.site, r.reason) for r in session.scan_refusals()] == [
            (SITE, "bad_signature"),
            (SITE, "expired"),
            ("L0002", "expired"),
        ]
        assert session.scan_refusals("L0404") == []
