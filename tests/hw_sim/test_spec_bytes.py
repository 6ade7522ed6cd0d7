"""The simulator against hardware.md, byte for byte, over real ptys with plain pyserial.

Every frame here is a literal from hardware.md, not built by the project's codec, so these
tests prove the simulator against the specification independently of our own code.
"""

from __future__ import annotations

import time

import pytest
import serial

from hw_sim.devices.rs485_board import Rs485Options
from hw_sim.devices.scanner import ScanMode, ScannerOptions
from hw_sim.devices.site import SimulatedSite, SiteConfig
from protocols.boards import BoardFamily
from protocols.boards.rs485 import Feedback
from protocols.scanner import ScannerFraming, Suffix
from tests.hw_sim.conftest import SILENCE_S, SimThread, before_sentinel_on_port

pytestmark = pytest.mark.pty

CU16_STATUS_BOARD0 = bytes.fromhex("02 00 30 03 35")
CU16_UNLOCK_B0_L1 = bytes.fromhex("02 00 31 03 36")
CU16_UNLOCK_B1_L3 = bytes.fromhex("02 12 31 03 48")
CU16_QUERY_ALL = bytes.fromhex("02 F0 32 03 27")
# Board 0 with every lock locked (1 = locked) and no parcels: checksum 02+00+35+FF+FF+03.
CU16_ALL_LOCKED_B0 = bytes.fromhex("02 00 35 FF FF 00 00 03 38")


def port(path, baud: int) -> serial.Serial:
    return serial.Serial(str(path), baud, timeout=SILENCE_S)


def _wrong_baud_bytes(site: SimulatedSite) -> int:
    assert site.ports is not None
    return site.ports.locks.stats.wrong_baud_bytes


def test_cu16_documented_status_reply_to_plain_pyserial(sim: SimThread) -> None:
    with port(sim.locks_path, 19200) as bus:
        bus.write(CU16_STATUS_BOARD0)
        assert bus.read(9) == CU16_ALL_LOCKED_B0


def test_cu16_documented_example_status_with_a_parcel_and_an_open_lock(sim: SimThread) -> None:
    # hardware.md's example: 02 00 35 FE FF 01 00 03 38 — lock 1 released, IR 1 sees a parcel.
    with port(sim.locks_path, 19200) as bus:
        bus.write(CU16_UNLOCK_B0_L1)
        sim.wait_for(lambda site: site.compartment(0, 1).door_open())  # as a person waits
        sim.do(lambda site: site.compartment(0, 1).place("RR123456785CN"))
        bus.write(CU16_STATUS_BOARD0)
        assert bus.read(9) == bytes.fromhex("02 00 35 FE FF 01 00 03 38")


def test_cu16_unlock_gets_no_reply_and_releases_that_lock_only(sim_factory) -> None:
    sim = sim_factory(SiteConfig(boards=2))
    with port(sim.locks_path, 19200) as bus:
        bus.write(CU16_UNLOCK_B1_L3)
        # Most boards do not answer an unlock: board 1's status, asked for next, is the first
        # thing on the line. Lock 3 released: bit 2 of the first lock byte is 0 (FB);
        # checksum 02+10+35+FB+FF+03.
        released = bytes.fromhex("02 10 35 FB FF 00 00 03 44")
        assert before_sentinel_on_port(bus, bytes.fromhex("02 10 30 03 45"), released) == b""
    assert sim.do(lambda site: site.compartment(1, 3).door_open())
    assert not sim.do(lambda site: site.compartment(0, 3).door_open())


def test_cu16_query_all_answers_every_board_in_turn(sim_factory) -> None:
    sim = sim_factory(SiteConfig(boards=3))
    with port(sim.locks_path, 19200) as bus:
        bus.write(CU16_QUERY_ALL)
        replies = bus.read(27)
    # Under 0x36, as the published drivers that name the reply to 0x32 give it (hardware.md
    # §1); checksum 02+B0+36+FF+FF+03.
    assert replies == (
        bytes.fromhex("02 00 36 FF FF 00 00 03 39")
        + bytes.fromhex("02 10 36 FF FF 00 00 03 49")
        + bytes.fromhex("02 20 36 FF FF 00 00 03 59")
    )


def test_independent_cu16_driver_sees_lock_released_within_25_ms(sim: SimThread) -> None:
    """What the published drivers do: send 0x31, wait ~25 ms, query with 0x30, read 9 bytes,
    and expect the lock's bit (1 = locked) to be 0."""
    with port(sim.locks_path, 19200) as bus:
        bus.write(bytes([0x02, 0x05, 0x31, 0x03, (0x02 + 0x05 + 0x31 + 0x03) & 0xFF]))
        time.sleep(0.025)  # the driver's own documented wait, the behaviour under test
        bus.write(bytes([0x02, 0x00, 0x30, 0x03, 0x35]))
        reply = bus.read(9)
    assert len(reply) == 9 and reply[:3] == b"\x02\x00\x35"
    assert sum(reply[:8]) & 0xFF == reply[8]
    lock_bits = reply[3] | reply[4] << 8
    assert not lock_bits & (1 << 5), "lock 6 (index 5) should show released"
    assert lock_bits | (1 << 5) == 0xFFFF, "every other lock stays locked"


def test_cu16_bad_checksum_gets_no_reply(sim: SimThread) -> None:
    with port(sim.locks_path, 19200) as bus:
        bus.write(bytes.fromhex("02 00 30 03 36"))  # checksum off by one
        bus.write(bytes.fromhex("02 00 31 03 37"))  # an unlock with a bad checksum
        # Neither is answered (a good status is the first thing on the line) and nothing
        # was released.
        assert before_sentinel_on_port(bus, CU16_STATUS_BOARD0, CU16_ALL_LOCKED_B0) == b""


def test_cu16_frame_at_the_wrong_baud_rate_gets_no_reply(sim: SimThread) -> None:
    with port(sim.locks_path, 9600) as bus:
        bus.write(CU16_UNLOCK_B0_L1)
        bus.write(CU16_STATUS_BOARD0)
        # The sentinel at 9600: the simulator has taken both frames in and dropped them.
        sim.wait_for(lambda site: _wrong_baud_bytes(site) == 10, what="the frames dropped")
        bus.baudrate = 19200
        # Nothing came at 9600, and the unlock at 9600 did nothing.
        assert before_sentinel_on_port(bus, CU16_STATUS_BOARD0, CU16_ALL_LOCKED_B0) == b""
    assert not sim.do(lambda site: site.compartment(0, 1).door_open())


def test_cu16_absent_board_is_silent(sim: SimThread) -> None:
    with port(sim.locks_path, 19200) as bus:
        bus.write(bytes.fromhex("02 30 30 03 65"))  # board 3 on a one-board bus
        assert before_sentinel_on_port(bus, CU16_STATUS_BOARD0, CU16_ALL_LOCKED_B0) == b""


def test_rs485_documented_frames(sim_factory) -> None:
    sim = sim_factory(SiteConfig(profile=BoardFamily.RS485_8A))
    with port(sim.locks_path, 9600) as bus:
        bus.write(bytes.fromhex("80 01 00 33 B2"))  # query all
        assert bus.read(7) == bytes.fromhex("80 01 00 00 00 33 B2")  # the real board's answer
        bus.write(bytes.fromhex("8A 01 01 11 9B"))  # unlock board 1 channel 1
        bus.timeout = 1.5  # hardware.md §2: the mature driver's response timeout
        started = time.monotonic()
        assert bus.read(5) == bytes.fromhex("8A 01 01 11 9B")  # feedback 11: open
        assert time.monotonic() - started >= 0.45  # "about 500 ms later"
        bus.write(bytes.fromhex("80 01 01 33 B3"))  # query channel 1
        assert bus.read(5) == bytes.fromhex("80 01 01 11 91")
        bus.write(bytes.fromhex("80 01 00 33 B2"))
        assert bus.read(7) == bytes.fromhex("80 01 00 00 01 33 B3")  # S1 bit 0 = channel 1


def test_rs485_bad_check_byte_and_wrong_baud_get_no_reply(sim_factory) -> None:
    sim = sim_factory(SiteConfig(profile=BoardFamily.RS485_8A))
    query, answer = bytes.fromhex("80 01 00 33 B2"), bytes.fromhex("80 01 00 00 00 33 B2")
    with port(sim.locks_path, 9600) as bus:
        bus.write(bytes.fromhex("80 01 00 33 B3"))
        assert before_sentinel_on_port(bus, query, answer) == b""
    with port(sim.locks_path, 19200) as bus:
        bus.write(query)
        # The sentinel at the wrong speed: the simulator has taken the frame in and dropped it.
        sim.wait_for(lambda site: _wrong_baud_bytes(site) == 5, what="the frame dropped")
        bus.baudrate = 9600
        assert before_sentinel_on_port(bus, query, answer) == b""


def test_rs485_open_level_low_inverts_the_feedback(sim_factory) -> None:
    config = SiteConfig(
        profile=BoardFamily.RS485_8A, board_options=Rs485Options(open_level=Feedback.LOW)
    )
    sim = sim_factory(config)
    with port(sim.locks_path, 9600) as bus:
        bus.write(bytes.fromhex("80 01 01 33 B3"))
        assert bus.read(5) == bytes.fromhex("80 01 01 11 91")  # closed door: level high
        bus.write(bytes.fromhex("80 01 00 33 B2"))
        assert bus.read(7) == bytes.fromhex("80 01 00 00 FF 33 4D")


def test_scanner_presentation_mode_sends_text_and_suffix(sim_factory) -> None:
    framing = ScannerFraming(suffix=Suffix.CRLF, prefix="#")
    sim = sim_factory(SiteConfig(scanner=ScannerOptions(framing=framing, send_aim_id=True)))
    with port(sim.scanner_path, 9600) as scanner:
        sim.do(lambda site: site.scan("RR123456785CN", "]C0"))
        assert scanner.read_until(b"\r\n") == b"#]C0RR123456785CN\r\n"


def test_scanner_host_triggered_mode_reads_only_when_triggered(sim_factory) -> None:
    sim = sim_factory(SiteConfig(scanner=ScannerOptions(mode=ScanMode.HOST_TRIGGERED)))
    with port(sim.scanner_path, 9600) as scanner:
        sim.do(lambda site: site.scan("LNP:CODE"))
        assert scanner.read(1) == b""  # held up, but nobody pressed the trigger
        scanner.write(b"\x16T\r")  # SYN T CR
        assert scanner.read_until(b"\r") == b"LNP:CODE\r"
        sim.do(lambda site: site.scan("LNP:SECOND"))
        # A good read ended the scan: the answer to a menu command sent next (to
        # presentation mode) is the first thing on the line.
        assert before_sentinel_on_port(scanner, b"\x16M\rTRGMOD3.", b"TRGMOD3\x06.") == b""
        sim.do(lambda site: site.scan("LNP:THIRD"))
        assert scanner.read_until(b"\r") == b"LNP:THIRD\r"


def test_scanner_menu_answers_ack_enq_nak(sim: SimThread) -> None:
    with port(sim.scanner_path, 9600) as scanner:
        scanner.write(b"\x16M\rBEPLVL2!")
        assert scanner.read(9) == b"BEPLVL2\x06!"
        scanner.write(b"\x16M\rXYZABC1.")
        assert scanner.read(9) == b"XYZABC1\x05."
        scanner.write(b"\x16M\rBEPLVL9.")
        assert scanner.read(9) == b"BEPLVL9\x15."
        scanner.write(b"\x16M\rBEPLVL?.")
        assert scanner.read(9) == b"BEPLVL2\x06."
