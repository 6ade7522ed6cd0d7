"""One test per fault: exactly what a host on the line sees."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import serial

from hw_sim.devices.cu16 import Cu16Options
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.memory_transport import LinkClosed, MemoryLink, PortUnavailable
from hw_sim.devices.site import SimulatedSite, SiteConfig
from protocols.boards import BoardFamily, cu16
from protocols.boards.cu16 import BoardStatus
from protocols.clock import SystemClock
from protocols.errors import FrameError
from protocols.scanner import ScanLineSplitter
from tests.eventually import eventually_async
from tests.hw_sim.conftest import SILENCE_S, SimThread, before_sentinel, exchange, read_bytes

STATUS_B0 = bytes.fromhex("02 00 30 03 35")
ALL_LOCKED_B0 = bytes.fromhex("02 00 35 FF FF 00 00 03 38")
STATUS_B1 = bytes.fromhex("02 10 30 03 45")
ALL_LOCKED_B1 = bytes.fromhex("02 10 35 FF FF 00 00 03 48")
UNLOCK_B0_L1 = bytes.fromhex("02 00 31 03 36")
SHORT_COIL = 0.05  # a quick coil keeps the tests short; the default is 500 ms


def run(config: SiteConfig, test) -> None:
    """Serve a site in memory and run `test(site, locks_link, scanner_link)`."""

    async def main() -> None:
        site = SimulatedSite(SystemClock(), config)
        locks, scanner = site.serve_memory()
        try:
            await test(site, locks.open(), scanner.open())
        finally:
            await site.aclose()

    asyncio.run(main())


async def status(link: MemoryLink) -> BoardStatus:
    return BoardStatus.from_bytes(await exchange(link, STATUS_B0, 9))


def test_no_reply_is_silence_until_switched_off() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.NO_REPLY, True, board=0)
        link.write(STATUS_B0)
        # Board 1's answer, asked for next, is the first thing on the line.
        assert await before_sentinel(link, STATUS_B1, ALL_LOCKED_B1) == b""
        site.set_fault(FaultKind.NO_REPLY, False, board=0)
        assert await exchange(link, STATUS_B0, 9) == ALL_LOCKED_B0

    run(SiteConfig(boards=2), test)  # board 1 answers the sentinel


def test_corrupt_reply_has_a_bad_checksum() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.CORRUPT_REPLY, True, board=0)
        reply = await exchange(link, STATUS_B0, 9)
        assert len(reply) == 9 and reply[:3] == ALL_LOCKED_B0[:3] and reply[7] == 0x03
        assert reply != ALL_LOCKED_B0
        with pytest.raises(FrameError, match="checksum"):
            cu16.Frame.from_bytes(reply)
        host = cu16.reassembler()
        assert host.feed(reply) == []
        assert host.stats.bad_frames == 1

    run(SiteConfig(), test)


def test_dropped_bytes_leave_a_short_frame_the_host_never_completes() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.DROP_BYTES, True, board=0, value=2)
        reply = await exchange(link, STATUS_B0, 9)
        assert len(reply) == 7
        assert cu16.reassembler().feed(reply) == []

    run(SiteConfig(), test)


def test_line_noise_comes_before_the_reply_and_the_host_resynchronises() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.LINE_NOISE, True, board=0, value=6)
        reply = await exchange(link, STATUS_B0, 15)
        assert len(reply) == 15 and reply.endswith(ALL_LOCKED_B0)
        host = cu16.reassembler()
        assert host.feed(reply) == [ALL_LOCKED_B0]
        assert host.stats.discarded_bytes >= 6

    run(SiteConfig(seed=7), test)


def test_slow_reply_misses_the_host_timeout_and_arrives_late() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.SLOW_REPLY, True, board=0, value=0.6)
        started = time.monotonic()
        assert await exchange(link, STATUS_B0, 9, timeout=0.2) == b""  # the driver gives up
        late = await read_bytes(link, 9, timeout=2.0)
        assert late == ALL_LOCKED_B0  # and then sees a stale reply in its next transaction
        assert time.monotonic() - started >= 0.6

    run(SiteConfig(), test)


def test_power_loss_is_silence_and_unlocks_do_nothing_until_power_returns() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.POWER_LOSS, True, board=1)
        link.write(STATUS_B1)
        link.write(bytes.fromhex("02 10 31 03 46"))  # unlock 1/1
        # Board 0 still answers, and its answer is the first thing on the line.
        assert await before_sentinel(link, STATUS_B0, ALL_LOCKED_B0) == b""
        site.set_fault(FaultKind.POWER_LOSS, False, board=1)
        reply = await exchange(link, bytes.fromhex("02 10 30 03 45"), 9)
        assert reply == bytes.fromhex("02 10 35 FF FF 00 00 03 48")  # all still locked
        assert not site.compartment(1, 1).door_open()

    run(SiteConfig(boards=2), test)


def test_lock_that_will_not_release_stays_latched() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.LOCK_STUCK, True, board=0, slot=1)
        link.write(UNLOCK_B0_L1)
        assert (await status(link)).locked[0]
        assert not site.compartment(0, 1).door_open()

    run(SiteConfig(), test)


def test_jammed_door_shows_released_for_the_coil_time_then_latched_again() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.DOOR_JAMMED, True, board=0, slot=1)
        link.write(UNLOCK_B0_L1)
        assert not (await status(link)).locked[0]  # the coil is holding the latch back
        started = time.monotonic()
        while (await status(link)).locked[0] is False:
            assert time.monotonic() - started < 2.0
        assert time.monotonic() - started >= SHORT_COIL * 0.5
        assert site.compartment(0, 1).openings == 0  # the door never moved

    run(SiteConfig(board_options=Cu16Options(coil_hold_s=SHORT_COIL)), test)


def test_door_left_open_stays_unlocked_after_a_push() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.DOOR_LEFT_OPEN, True, board=0, slot=1)
        link.write(UNLOCK_B0_L1)
        await eventually_async(lambda: site.compartment(0, 1).door_open())
        assert site.compartment(0, 1).close_door() is False
        released = time.monotonic()
        await eventually_async(lambda: time.monotonic() > released + SHORT_COIL)  # past the coil
        assert not (await status(link)).locked[0]
        site.set_fault(FaultKind.DOOR_LEFT_OPEN, False, board=0, slot=1)
        assert site.compartment(0, 1).close_door() is True
        assert (await status(link)).locked[0]

    run(SiteConfig(board_options=Cu16Options(coil_hold_s=SHORT_COIL)), test)


def test_forced_door_shows_open_with_no_unlock_sent() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.compartment(0, 4).release()  # a parcel inside, door shut again
        site.compartment(0, 4).place("RR123456785CN")
        site.compartment(0, 4).close_door()
        await eventually_async(lambda: site.compartment(0, 4).locked())  # the coil let go
        before = await status(link)
        assert before.locked[3] and before.occupied[3]
        site.set_fault(FaultKind.DOOR_FORCED, True, board=0, slot=4)
        after = await status(link)
        assert not after.locked[3] and after.occupied[3]
        assert site.compartment(0, 4).forced_openings == 1

    run(SiteConfig(board_options=Cu16Options(coil_hold_s=SHORT_COIL)), test)


def test_stuck_ir_sensor_reports_the_stuck_value() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.IR_STUCK, True, board=0, slot=2, value=1)
        assert (await status(link)).occupied[1]  # empty, but "sees" a parcel
        site.compartment(0, 3).release()
        site.compartment(0, 3).place("RR123456785CN")
        site.set_fault(FaultKind.IR_STUCK, True, board=0, slot=3, value=0)
        assert not (await status(link)).occupied[2]  # full, but sees nothing
        site.set_fault(FaultKind.IR_STUCK, False, board=0, slot=3)
        assert (await status(link)).occupied[2]

    run(SiteConfig(), test)


def test_scanner_unplugged_in_memory_fails_reads_and_opens_until_plugged_back() -> None:
    async def test(site: SimulatedSite, _link: MemoryLink, scanner: MemoryLink) -> None:
        reader = asyncio.ensure_future(scanner.read())
        await asyncio.sleep(0)
        site.set_fault(FaultKind.SCANNER_UNPLUGGED, True)
        with pytest.raises(LinkClosed):
            await reader
        with pytest.raises(OSError):
            scanner.write(b"\x16T\r")
        assert site.ports is not None
        port = site.ports.scanner
        with pytest.raises(PortUnavailable):
            port.open()  # type: ignore[attr-defined]
        site.set_fault(FaultKind.SCANNER_UNPLUGGED, False)
        fresh = port.open()  # type: ignore[attr-defined]
        site.scan("LNP:AFTER")
        assert await read_bytes(fresh, 10) == b"LNP:AFTER\r"

    run(SiteConfig(), test)


@pytest.mark.pty
def test_scanner_unplugged_on_a_pty_fails_the_pyserial_read_and_the_path_goes(
    sim: SimThread,
) -> None:
    scanner = serial.Serial(str(sim.scanner_path), 9600, timeout=SILENCE_S)
    sim.do(lambda site: site.set_fault(FaultKind.SCANNER_UNPLUGGED, True))
    with pytest.raises(serial.SerialException):
        scanner.read(1)
    scanner.close()
    assert not sim.scanner_path.exists()
    with pytest.raises(serial.SerialException):
        serial.Serial(str(sim.scanner_path), 9600)
    sim.do(lambda site: site.set_fault(FaultKind.SCANNER_UNPLUGGED, False))
    with serial.Serial(str(sim.scanner_path), 9600, timeout=SILENCE_S) as again:
        sim.do(lambda site: site.scan("LNP:BACK"))
        assert again.read_until(b"\r") == b"LNP:BACK\r"


@pytest.mark.pty
def test_lock_bus_cable_pull_fails_the_pyserial_read(sim: SimThread) -> None:
    bus = serial.Serial(str(sim.locks_path), 19200, timeout=SILENCE_S)

    def pull(site: SimulatedSite) -> None:
        assert site.ports is not None
        site.ports.locks.unplug()

    sim.do(pull)
    with pytest.raises(serial.SerialException):
        bus.write(STATUS_B0)
        bus.read(9)
    bus.close()
    assert not Path(sim.locks_path).exists()


def test_scanner_garbage_is_a_line_the_host_cannot_decode() -> None:
    async def test(site: SimulatedSite, _link: MemoryLink, scanner: MemoryLink) -> None:
        host = ScanLineSplitter()
        site.set_fault(FaultKind.SCANNER_GARBAGE, True, value=12)
        burst = await read_bytes(scanner, 13)
        assert len(burst) == 13 and burst.endswith(b"\r")
        site.scan("LNP:WHILE-DIRTY")
        misread = await read_bytes(scanner, 13)
        assert host.feed(burst + misread) == []
        assert host.stats.garbage == 2
        site.set_fault(FaultKind.SCANNER_GARBAGE, False)
        site.scan("LNP:CLEAN")
        codes = host.feed(await read_bytes(scanner, 10))
        assert [c.text for c in codes] == ["LNP:CLEAN"]

    run(SiteConfig(), test)


def test_rs485_slow_reply_is_a_timeout_for_the_mature_driver() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.SLOW_REPLY, True, board=1, value=0.4)
        # The query-all would answer in ~10 ms; slowed, it misses a 0.3 s timeout.
        assert await exchange(link, bytes.fromhex("80 01 00 33 B2"), 7) == b""
        assert await read_bytes(link, 7, 1.0) == bytes.fromhex("80 01 00 00 00 33 B2")

    run(SiteConfig(profile=BoardFamily.RS485_8A), test)


def test_misaddressed_fault_is_refused_and_changes_nothing() -> None:
    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        from hw_sim.errors import ConfigError

        with pytest.raises(ConfigError):
            site.set_fault(FaultKind.LOCK_STUCK, True, board=0)  # no slot
        with pytest.raises(ConfigError):
            site.set_fault(FaultKind.NO_REPLY, True, board=7)
        with pytest.raises(ConfigError):
            site.set_fault(FaultKind.IR_STUCK, True, board=0, slot=1, value=5)
        assert site.faults() == []
        assert await exchange(link, STATUS_B0, 9) == ALL_LOCKED_B0

    run(SiteConfig(), test)
