"""The simulated Kerong CU48 bus on a hand-stepped clock: the bytes of hardware.md §6."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_sim.devices.cu48 import REPLY_LATENCY_S, Cu48Bus
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.errors import ConfigError
from protocols.boards import BoardFamily, cu48
from protocols.clock import ManualClock
from protocols.errors import FrameError
from tests.hw_sim.conftest import drain


def test_a_status_query_is_answered_with_the_18_byte_status() -> None:
    clock = ManualClock()
    bus = Cu48Bus(clock, board_ids=[0, 4])
    bus.receive(bytes.fromhex("02 04 00 60 03 69"), 0.0)
    ((ready, reply),) = drain(bus)
    assert ready > REPLY_LATENCY_S  # after the request's own bytes crossed the wire
    assert len(reply) == 18 and reply[:4] == bytes.fromhex("02 04 00 75") and reply[16] == 0x03
    status = cu48.decode_board_frame(reply)
    assert isinstance(status, cu48.BoardStatus) and status.board == 4
    assert all(status.locked) and not any(status.occupied)


def test_an_unlock_is_acknowledged_and_releases_only_its_lock() -> None:
    clock = ManualClock()
    bus = Cu48Bus(clock)
    bus.receive(cu48.unlock(0, 41).to_bytes(), clock.monotonic())
    ((_, ack),) = drain(bus)
    assert ack == cu48.UnlockAck(0, 41).to_bytes() == bytes.fromhex("02 00 28 75 00 9f")
    assert bus.compartment(0, 41).door_open()
    bus.receive(cu48.query_status(0).to_bytes(), clock.monotonic())
    ((_, raw),) = drain(bus)
    status = cu48.decode_board_frame(raw)
    assert isinstance(status, cu48.BoardStatus)
    assert [i + 1 for i, locked in enumerate(status.locked) if not locked] == [41]


def test_an_absent_board_and_a_bad_checksum_get_no_answer() -> None:
    bus = Cu48Bus(ManualClock(), board_ids=[0])
    bus.receive(cu48.query_status(1).to_bytes(), 0.0)  # no board 1
    bus.receive(bytes.fromhex("02 00 00 60 03 66"), 0.0)  # sum should be 65
    assert drain(bus) == []
    assert bus.rx_stats.bad_frames == 1


def test_faults_and_power_apply_to_a_cu48_board() -> None:
    clock = ManualClock()
    site = SimulatedSite(clock, SiteConfig(profile=BoardFamily.CU48, boards=2))
    site.set_fault(FaultKind.CORRUPT_REPLY, True, board=1)
    site.locks.receive(cu48.query_status(1).to_bytes(), clock.monotonic())
    ((_, reply),) = drain(site.locks)
    with pytest.raises(FrameError, match="checksum"):
        cu48.decode_board_frame(reply)
    site.set_fault(FaultKind.POWER_LOSS, True, board=0)
    site.locks.receive(cu48.query_status(0).to_bytes(), clock.monotonic())
    assert drain(site.locks) == []
    assert site.status()["profile"] == "cu48" and len(site.status()["boards"][1]["slots"]) == 48


def test_a_cu48_site_refuses_another_family_s_options_and_too_many_boards() -> None:
    with pytest.raises(ConfigError, match="1-10 boards"):
        SiteConfig(profile="cu48", boards=11)
    with pytest.raises(ConfigError, match="no simulated lock-board family"):
        SiteConfig(profile="cu99")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_from_a_host_give_valid_answers_or_none(data: bytes) -> None:
    bus = Cu48Bus(ManualClock(), board_ids=range(10))
    bus.receive(data, 0.0)
    for _, reply in drain(bus):
        cu48.decode_board_frame(reply)
