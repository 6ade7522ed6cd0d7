"""Commands and their replies, alarms, and central's processes on every store."""

from __future__ import annotations

import dataclasses

from central.store.base import CentralStore
from central.store.records import AlarmRecord, CommandRecord, ProcessRecord
from tests.central.store_contract.samples import SITE, T0


def command(ident: str, issued_at: float, site: str = SITE) -> CommandRecord:
    return CommandRecord(ident, site, "reserve_slot", issued_at, issued_at + 3600, '{"x": 1}')


def test_a_command_keeps_its_first_reply_only(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_command(command("c2", T0 + 5))
        session.add_command(command("c1", T0))
        session.add_command(command("c3", T0, site="L0002"))
        assert session.record_reply("c1", False, "no_capacity", T0 + 1, "no free S slot")
        assert not session.record_reply("c1", True, None, T0 + 2, None)  # answered already
        assert not session.record_reply("nope", True, None, T0 + 2, None)
    with any_store.transaction() as session:
        answered = session.get_command("c1")
        assert answered == dataclasses.replace(
            command("c1", T0),
            reply_ok=False,
            reply_reason="no_capacity",
            reply_at=T0 + 1,
            reply_detail="no free S slot",
        )
        assert session.get_command("c2") == command("c2", T0 + 5)
        assert session.get_command("c9") is None
        assert [c.id for c in session.commands_to(SITE)] == ["c1", "c2"]
        assert session.commands_to("L0404") == []


def test_a_command_counts_as_accepted_only_once_its_site_said_ok_to_that_very_body(
    any_store: CentralStore,
) -> None:
    revoke = '{"type":"revoke_code","parcel":"LP1","code_id":"k1"}'
    with any_store.transaction() as session:
        session.add_command(dataclasses.replace(command("c1", T0), body=revoke))
        session.add_command(dataclasses.replace(command("c2", T0 + 1), body=revoke))
        session.add_command(dataclasses.replace(command("c3", T0, site="L0002"), body=revoke))
        assert not session.command_accepted(SITE, revoke)  # sent, not answered
        session.record_reply("c1", False, "stale", T0 + 2, None)
        assert not session.command_accepted(SITE, revoke)  # refused
        session.record_reply("c3", True, None, T0 + 2, None)
        assert not session.command_accepted(SITE, revoke)  # accepted at another site
        session.record_reply("c2", True, None, T0 + 3, None)
    with any_store.transaction() as session:
        assert session.command_accepted(SITE, revoke)
        assert not session.command_accepted(SITE, revoke.replace("k1", "k2"))


def test_an_alarm_is_raised_once_while_open_and_again_after_it_cleared(
    any_store: CentralStore,
) -> None:
    alarm = AlarmRecord(SITE, "door_left_open", T0, ref="A", detail="120 s", source="site")
    with any_store.transaction() as session:
        assert session.open_alarm(alarm)
        assert not session.open_alarm(dataclasses.replace(alarm, opened_at=T0 + 1))
        assert session.open_alarm(dataclasses.replace(alarm, ref="B"))
        assert session.open_alarm(dataclasses.replace(alarm, kind="door_forced"))
    with any_store.transaction() as session:
        session.clear_alarms(SITE, "door_left_open", "A", T0 + 2)
        assert {(a.kind, a.ref) for a in session.list_alarms()} == {
            ("door_left_open", "B"),
            ("door_forced", "A"),
        }
        session.clear_alarms(SITE, "door_left_open", "A", T0 + 3)  # none open: nothing
        cleared = [a for a in session.list_alarms(include_cleared=True) if a.cleared_at]
        assert [a.cleared_at for a in cleared] == [T0 + 2]
        assert session.open_alarm(dataclasses.replace(alarm, opened_at=T0 + 4))  # again
        assert len(session.list_alarms()) == 3
        assert len(session.list_alarms(include_cleared=True)) == 4
        session.clear_alarms(SITE, "door_left_open", None, T0 + 5)  # every ref
    with any_store.transaction() as session:
        assert [a.kind for a in session.list_alarms()] == ["door_forced"]


def test_alarms_come_back_as_raised_in_order_and_are_acknowledged_once(
    any_store: CentralStore,
) -> None:
    later = AlarmRecord(SITE, "site_offline", T0 + 9, source="central")
    first = AlarmRecord("L0002", "door_forced", T0, ref="G", detail="forced", source="site")
    with any_store.transaction() as session:
        session.open_alarm(later)
        session.open_alarm(first)
        listed = session.list_alarms()
        assert [dataclasses.replace(a, id=None) for a in listed] == [first, later]
        ids = [a.id for a in listed]
        assert None not in ids and len(set(ids)) == 2
        first_id, later_id = ids[0] or 0, ids[1] or 0
        assert session.get_alarm(first_id) == listed[0]
        assert session.get_alarm(9_999) is None
        assert session.ack_alarm(first_id, "ops", T0 + 10, clear=False)
        assert not session.ack_alarm(first_id, "ops2", T0 + 11, clear=True)  # acked already
        assert session.ack_alarm(later_id, "ops", T0 + 12, clear=True)
        assert not session.ack_alarm(9_999, "ops", T0, clear=True)
    with any_store.transaction() as session:
        acked = session.get_alarm(first_id)
        assert acked is not None
        assert (acked.acked_at, acked.acked_by, acked.cleared_at) == (T0 + 10, "ops", None)
        closed = session.get_alarm(later_id)
        assert closed is not None and closed.cleared_at == T0 + 12
        assert [a.id for a in session.list_alarms()] == [first_id]


def test_processes_are_listed_most_recently_heard_first(any_store: CentralStore) -> None:
    one = ProcessRecord("central-1/boot-a", "central-1", "host-a", 101, T0, T0 + 5)
    two = ProcessRecord(
        "central-2/boot-b", "central-2", "host-b", 202, T0, T0 + 7, brokers=("main", "east")
    )
    with any_store.transaction() as session:
        session.save_process(one)
        session.save_process(two)
    with any_store.transaction() as session:
        assert session.list_processes() == [two, one]
        stopped = dataclasses.replace(
            one, heard_at=T0 + 9, stopped_at=T0 + 9, received=40, applied=39, brokers=()
        )
        session.save_process(stopped)
    with any_store.transaction() as session:
        assert session.list_processes() == [stopped, two]
