"""The simulated scanner's set-up commands, byte for byte (hardware.md §3, §3a), no I/O.

Honeywell menu commands are written out as the manuals give them (SYN M CR ... storage), and
GM65-class commands as the manuals' hex lines, so these tests check the device against the
documentation rather than against our own encoders.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_sim.devices.scanner import (
    REVISION_REPORT,
    ScanMode,
    Scanner,
    ScannerModel,
    ScannerOptions,
)
from protocols import gm65
from tests.hw_sim.conftest import drain

ACK, ENQ, NAK = b"\x06", b"\x05", b"\x15"


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def answer(scanner: Scanner, command: bytes, at: float = 0.0) -> list[bytes]:
    scanner.receive(command, at)
    return [reply for _, reply in drain(scanner)]


# --- Honeywell menu commands ------------------------------------------------------------


def test_current_default_and_range_queries() -> None:
    scanner = Scanner()
    # As the manuals' "cbrena?." / "cbrena^." / "cbrena*." examples, for our settings.
    assert answer(scanner, b"\x16M\rBEPLVL?.") == [b"BEPLVL1" + ACK + b"."]
    assert answer(scanner, b"\x16M\rBEPLVL3!") == [b"BEPLVL3" + ACK + b"!"]
    assert answer(scanner, b"\x16M\rBEPLVL?!") == [b"BEPLVL3" + ACK + b"!"]
    assert answer(scanner, b"\x16M\rBEPLVL^.") == [b"BEPLVL1" + ACK + b"."]
    assert answer(scanner, b"\x16M\rBEPLVL*.") == [b"BEPLVL0-3" + ACK + b"."]
    assert answer(scanner, b"\x16M\rTRGMOD*.") == [b"TRGMOD0|3" + ACK + b"."]


def test_tags_and_subtags_are_case_insensitive_and_echoed_as_sent() -> None:
    scanner = Scanner()
    assert answer(scanner, b"\x16M\rtrgmod0.") == [b"trgmod0" + ACK + b"."]
    assert scanner.mode is ScanMode.HOST_TRIGGERED


def test_out_of_range_value_is_nak_and_changes_nothing() -> None:
    scanner = Scanner()
    assert answer(scanner, b"\x16M\rTRGMOD7!") == [b"TRGMOD7" + NAK + b"!"]
    assert scanner.mode is ScanMode.PRESENTATION


def test_a_query_in_place_of_the_subtag_lists_the_tags_settings() -> None:
    scanner = Scanner()
    assert answer(scanner, b"\x16M\rTRG?.") == [b"TRGMOD3" + ACK + b"."]
    assert answer(scanner, b"\x16M\rZZZ?.") == [b"ZZZ?" + ENQ + b"."]


def test_a_query_in_place_of_the_tag_lists_every_setting() -> None:
    reply = answer(Scanner(), b"\x16M\r?.")
    assert reply == [
        b"BEPLVL1" + ACK + b";REVINF" + REVISION_REPORT.encode() + ACK + b";TRGMOD3" + ACK + b"."
    ]


def test_revinf_reports_the_revision_and_cannot_be_set() -> None:
    scanner = Scanner()
    report = REVISION_REPORT.encode()
    assert answer(scanner, b"\x16M\rREVINF.") == [b"REVINF" + report + ACK + b"."]
    # A published driver asks with "^!" (enioka_scan's Honeywell GetFirmware).
    assert answer(scanner, b"\x16M\rREVINF^!") == [b"REVINF" + report + ACK + b"!"]
    assert answer(scanner, b"\x16M\rREVINF1.") == [b"REVINF1" + NAK + b"."]
    assert not any(mark in report for mark in b"!.,;")  # a host reads these as the end


def test_tags_no_source_documents_are_enq() -> None:
    # HSTCEN: not in any Honeywell manual we could find (docs/hardware.md §3), so unknown.
    assert answer(Scanner(), b"\x16M\rHSTCEN1.") == [b"HSTCEN1" + ENQ + b"."]


def test_a_honeywell_scanner_ignores_gm65_commands() -> None:
    scanner = Scanner()
    assert answer(scanner, hx("7E 00 07 01 00 00 01 AB CD")) == []
    assert answer(scanner, b"\x16M\rBEPLVL?.") == [b"BEPLVL1" + ACK + b"."]


# --- GM65-class binary set-up commands ---------------------------------------------------


def gm65_scanner(mode: ScanMode = ScanMode.PRESENTATION, aim: bool = False) -> Scanner:
    return Scanner(ScannerOptions(model=ScannerModel.GM65, mode=mode, send_aim_id=aim))


WRITE_DONE = hx("02 00 00 01 00 33 31")  # the manuals' reply to a write or a save


def test_gm65_save_and_read_the_documented_baud_bytes() -> None:
    scanner = gm65_scanner()
    assert answer(scanner, hx("7E 00 09 01 00 00 00 DE C8")) == [WRITE_DONE]
    # Read two bytes at 0x002A: 39 01 is 9600 baud; CRC-16/XMODEM of 00 02 39 01 is 0xC14C.
    assert answer(scanner, hx("7E 00 07 01 00 2A 02 D8 0F")) == [hx("02 00 00 02 39 01 C1 4C")]


def test_gm65_write_then_read_back_and_no_reply_to_a_bad_crc() -> None:
    scanner = gm65_scanner()
    assert answer(scanner, hx("7E 00 08 01 00 60 01 AB CD")) == [WRITE_DONE]
    assert answer(scanner, hx("7E 00 07 01 00 60 01 AB CD")) == [hx("02 00 00 01 01 23 10")]
    assert answer(scanner, hx("7E 00 08 01 00 60 02 AB CE")) == []  # neither CRC nor AB CD
    assert answer(scanner, hx("7E 00 07 01 00 60 01 AB CD")) == [hx("02 00 00 01 01 23 10")]


def test_gm65_command_mode_and_the_trigger_bit_read_a_code_in_view() -> None:
    scanner = gm65_scanner()
    # Zone 0x0000 bits 1-0 = 01: command-triggered.
    assert answer(scanner, hx("7E 00 08 01 00 00 01 AB CD")) == [WRITE_DONE]
    assert scanner.mode is ScanMode.HOST_TRIGGERED
    scanner.present("LNP:IN-VIEW", at=1.0, symbology=None)
    assert drain(scanner) == []  # not triggered: nothing read
    # The manuals' "trigger mode" command: bit 0 of zone 0x0002.
    replies = answer(scanner, hx("7E 00 08 01 00 02 01 AB CD"), at=1.5)
    assert replies == [WRITE_DONE, b"LNP:IN-VIEW\r"]
    # The engine clears the trigger bit itself after the read.
    assert answer(scanner, hx("7E 00 07 01 00 02 01 AB CD"), at=2.0) == [hx("02 00 00 01 00 33 31")]


# Zone 0x00D9: 55 as the GM60 driver restores the factory settings, 50 as Tasmota's GM861
# table resets the zone bytes to defaults (with the CRC that table prints: 81 D3).
@pytest.mark.parametrize("reset", ["7E 00 08 01 00 D9 55 AB CD", "7E 00 08 01 00 D9 50 81 D3"])
def test_gm65_aim_id_zone_and_factory_reset(reset: str) -> None:
    scanner = gm65_scanner()
    assert answer(scanner, hx("7E 00 08 01 00 D0 80 AB CD")) == [WRITE_DONE]
    scanner.present("LNP:AIM", at=1.0)
    assert [r for _, r in drain(scanner)] == [b"]Q1LNP:AIM\r"]
    # The reset: AIM ids off again.
    assert answer(scanner, hx(reset), at=2.0) == [WRITE_DONE]
    scanner.present("LNP:PLAIN", at=3.0)
    assert [r for _, r in drain(scanner)] == [b"LNP:PLAIN\r"]


def test_gm65_version_is_read_only_and_reads_beyond_the_table_get_no_reply() -> None:
    scanner = gm65_scanner()
    (version,) = answer(scanner, hx("7E 00 07 01 00 E1 05 AB CD"))
    assert version[:4] == hx("02 00 00 05") and len(version) == 11
    assert answer(scanner, hx("7E 00 08 01 00 E1 00 AB CD")) == [WRITE_DONE]
    assert answer(scanner, hx("7E 00 07 01 00 E1 05 AB CD")) == [version]
    assert answer(scanner, hx("7E 00 07 01 01 00 01 AB CD")) == []


@pytest.mark.parametrize("command", [b"\x16M\rBEPLVL?.", b"\x16T\r"])
def test_a_gm65_engine_ignores_honeywell_commands(command: bytes) -> None:
    scanner = gm65_scanner(ScanMode.HOST_TRIGGERED)
    scanner.present("LNP:X", at=0.0, symbology=None)
    assert answer(scanner, command, at=0.1) == []


gm65_like = st.builds(
    lambda kind, address, data, crc: bytes((0x7E, 0x00, kind, len(data), *address, *data, *crc)),
    st.sampled_from([0x07, 0x08, 0x09, 0x0A, 0x00]),
    st.tuples(st.sampled_from([0x00, 0x01]), st.integers(0, 255)),
    st.binary(min_size=1, max_size=3),
    st.sampled_from([b"\xab\xcd", b"\x00\x00"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(gm65_like, st.binary(max_size=12)), max_size=6))
def test_any_bytes_to_a_gm65_give_replies_that_decode_or_none(pieces: list[bytes]) -> None:
    # Nothing a host sends makes the engine fail or answer what the host cannot read: every
    # binary answer decodes (zone 0x0000 and 0x0002 writes may set it reading, whose lines
    # are text with the suffix).
    scanner = gm65_scanner()
    scanner.receive(b"".join(pieces), 0.0)
    for _, reply in drain(scanner):
        if reply[:3] != b"\x02\x00\x00":
            assert reply.endswith(b"\r")
            continue
        gm65.SetupReply.from_bytes(reply)
