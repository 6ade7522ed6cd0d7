"""Console logins and the audit log on every store (and through the read path)."""

from __future__ import annotations

from central.store.base import CentralStore
from central.store.open import open_reader
from central.store.queries.audit import AuditEntry
from central.store.queries.users import UserRecord
from tests.central.store_contract.samples import SITE, T0


def entry(
    at: float, action: str = "open_slot", outcome: str = "queued", **changes: object
) -> AuditEntry:
    fields: dict[str, object] = {
        "at": at,
        "actor": "tarik",
        "role": "technician",
        "action": action,
        "reason": "ticket 88",
        "outcome": outcome,
        "site": SITE,
        "target": "A",
        "command_id": "task:7",
    }
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def test_a_login_is_added_once_listed_by_name_and_disabled_once(any_store: CentralStore) -> None:
    olivia = UserRecord("olivia", "operator", "scrypt$16384$8$1$aa$bb", T0)
    with any_store.transaction() as session:
        assert session.add_user(olivia)
        assert session.add_user(UserRecord("bob", "viewer", "scrypt$x", T0 + 1))
        assert not session.add_user(UserRecord("olivia", "viewer", "other", T0 + 2))  # taken
    with any_store.transaction() as session:
        assert session.get_user("olivia") == olivia  # the first one kept, whole
        assert session.get_user("nobody") is None
        assert [u.name for u in session.list_users()] == ["bob", "olivia"]
        assert session.disable_user("bob", T0 + 5)
        assert not session.disable_user("bob", T0 + 6)  # already
        assert not session.disable_user("nobody", T0 + 6)
    with any_store.transaction() as session:
        bob = session.get_user("bob")
        assert bob is not None and bob.disabled_at == T0 + 5
    assert "scrypt" not in repr(olivia)  # a log line never carries a hash


def test_the_audit_log_is_newest_first_and_counts_by_site_action_outcome_and_time(
    any_store: CentralStore, store_location: str
) -> None:
    with any_store.transaction() as session:
        first = session.add_audit(entry(T0))
        second = session.add_audit(entry(T0 + 10, outcome="refused", command_id=None))
        session.add_audit(entry(T0 + 20, site="L0002"))
        session.add_audit(entry(T0 + 30, action="set_slot_service:out"))
        session.add_audit(entry(T0 + 40))
    assert second == first + 1
    with any_store.transaction() as session:
        newest = session.audit_entries()
        assert [e.at for e in newest] == [T0 + 40, T0 + 30, T0 + 20, T0 + 10, T0]
        assert newest[-1] == entry(T0, id=first)
        assert [e.at for e in session.audit_entries(limit=2, site="L0002")] == [T0 + 20]
        assert session.audit_count(SITE, ["open_slot"], "queued", T0) == 2
        assert session.audit_count(SITE, ["open_slot"], "queued", T0 + 1) == 1
        assert session.audit_count(SITE, ["open_slot", "set_slot_service:out"], "queued", T0) == 3
        assert session.audit_count(SITE, ["open_slot"], "refused", T0) == 1
        assert session.audit_count(SITE, [], "queued", T0) == 0
    with open_reader(store_location) as reader:
        assert [e.at for e in reader.view.audit_entries(limit=1)] == [T0 + 40]


def test_an_audit_entry_follows_its_command_from_task_to_the_sites_answer(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        opened = session.add_audit(entry(T0, command_id="task:7"))
        other = session.add_audit(entry(T0 + 1, command_id="task:8"))
        session.add_audit(entry(T0 + 2, outcome="refused", command_id=None))
    with any_store.transaction() as session:
        assert session.audit_rename_command("task:7", "c0ffee", "sent") == 1
        assert session.audit_rename_command("task:99", "beef", "sent") == 0
    with any_store.transaction() as session:
        assert session.audit_outcome("c0ffee", "refused by site: slot_unavailable x") == 1
        assert session.audit_outcome("unknown", "done") == 0
        shown = {e.id: (e.command_id, e.outcome) for e in session.audit_entries()}
        assert shown[opened] == ("c0ffee", "refused by site: slot_unavailable x")
        assert shown[other] == ("task:8", "queued")
        # Every open asked for counts, whatever it came to, but central's own refusals.
        assert session.audit_count(SITE, ["open_slot"], None, T0, excluding="refused") == 2
        assert session.audit_count(SITE, ["open_slot"], None, T0) == 3


def test_remote_opens_are_counted_over_every_site(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_audit(entry(T0))
        session.add_audit(entry(T0 + 1, site="L0042"))
        session.add_audit(entry(T0 + 2, site="L0042", outcome="refused"))
    with any_store.transaction() as session:
        assert session.audit_count(None, ["open_slot"], None, T0, excluding="refused") == 2
        assert session.audit_count(None, ["open_slot"], None, T0 + 1) == 2
        assert session.audit_count(SITE, ["open_slot"], None, T0) == 1
