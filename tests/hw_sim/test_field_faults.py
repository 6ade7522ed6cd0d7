"""The field faults of issue 11 kinds 7, 9 and 10, as a host on the line sees them: an
echoing adapter, a scanner whose line end or AIM id differs from its settings, and
presentation re-reads. (What the agent makes of them: tests/edge/test_adapter_echo.py and
tests/edge/test_field_scans.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import serial

from hw_sim.devices.faults import REREAD_INTERVAL_S, FaultKind
from hw_sim.devices.field_faults import play_field_faults
from hw_sim.devices.memory_transport import MemoryLink
from hw_sim.devices.rs485_board import Rs485Options
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.errors import ConfigError
from protocols.boards import BoardFamily
from protocols.clock import SystemClock
from protocols.scanner import Suffix
from tests.hw_sim.conftest import SimThread, read_bytes

UNLOCK_B1_CH3 = bytes.fromhex("8A 01 03 11 99")  # hardware.md §2a
CLOSED_B1_CH3 = bytes.fromhex("8A 01 03 00 88")  # the reply of a lock that did not release
STATUS_B0 = bytes.fromhex("02 00 30 03 35")  # hardware.md §1
ALL_LOCKED_B0 = bytes.fromhex("02 00 35 FF FF 00 00 03 38")


def run(config: SiteConfig, test) -> None:
    async def main() -> None:
        site = SimulatedSite(SystemClock(), config)
        locks, scanner = site.serve_memory()
        try:
            await test(site, locks.open(), scanner.open())
        finally:
            await site.aclose()

    asyncio.run(main())


def test_an_echoing_adapter_sends_the_unlock_back_before_the_boards_reply() -> None:
    """The issue's input: 8A 01 03 11 99 out; 8A 01 03 11 99 back at once, then the board's
    own answer for a lock that did not release, 8A 01 03 00 88."""

    async def test(site: SimulatedSite, link: MemoryLink, _scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.ADAPTER_ECHO, True)
        site.set_fault(FaultKind.LOCK_STUCK, True, board=1, slot=3)
        link.write(UNLOCK_B1_CH3)
        assert await read_bytes(link, 10, timeout=2.0) == UNLOCK_B1_CH3 + CLOSED_B1_CH3
        assert {"kind": "adapter_echo"} in site.faults()
        site.set_fault(FaultKind.ADAPTER_ECHO, False)
        link.write(UNLOCK_B1_CH3)
        assert await read_bytes(link, 5, timeout=2.0) == CLOSED_B1_CH3
        assert site.ports is not None and site.ports.locks.stats.echoed_bytes == 5

    run(
        SiteConfig(
            profile=BoardFamily.RS485_8A, board_options=Rs485Options(unlock_reply_delay_s=0.05)
        ),
        test,
    )


def test_an_echoing_adapter_on_a_pty_echoes_to_pyserial(tmp_path: Path) -> None:
    sim = SimThread(SiteConfig(), tmp_path)
    try:
        sim.do(lambda site: site.set_fault(FaultKind.ADAPTER_ECHO, True))
        with serial.Serial(str(tmp_path / "locks"), 19200, timeout=1) as port:
            port.write(STATUS_B0)
            assert port.read(len(STATUS_B0) + 9) == STATUS_B0 + ALL_LOCKED_B0
    finally:
        sim.close()


def test_the_echo_fault_needs_a_transport() -> None:
    site = SimulatedSite(SystemClock(), SiteConfig())
    with pytest.raises(ConfigError, match="transport"):
        site.set_fault(FaultKind.ADAPTER_ECHO, True)


@pytest.mark.parametrize(("value", "end"), [(None, b"\r\n"), (1, b"\r\n"), (2, b"\n")])
def test_a_scanner_sends_its_own_line_end_whatever_it_was_set_to(
    value: float | None, end: bytes
) -> None:
    async def test(site: SimulatedSite, _link: MemoryLink, scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.SCANNER_SUFFIX, True, value=value)
        site.scan("RR123456785CN", None)
        assert await read_bytes(scanner, 15) == b"RR123456785CN" + end
        site.set_fault(FaultKind.SCANNER_SUFFIX, False)
        site.scan("LP1", None)
        assert await read_bytes(scanner, 4) == b"LP1\r"

    run(SiteConfig(), test)


def test_a_bad_line_end_value_is_refused_and_changes_nothing() -> None:
    site = SimulatedSite(SystemClock(), SiteConfig())
    with pytest.raises(ConfigError, match="scanner_suffix"):
        site.set_fault(FaultKind.SCANNER_SUFFIX, True, value=7)
    assert site.scanner.line_end is None


def test_a_scanner_sends_aim_ids_it_was_never_set_to_send() -> None:
    async def test(site: SimulatedSite, _link: MemoryLink, scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.SCANNER_AIM_ID, True)
        site.scan("LNP:ABC")  # a QR code, as a phone shows it
        assert await read_bytes(scanner, 11) == b"]Q1LNP:ABC\r"

    run(SiteConfig(), test)


def test_a_code_held_in_view_is_re_read_about_once_a_second_until_another_is_shown() -> None:
    async def test(site: SimulatedSite, _link: MemoryLink, scanner: MemoryLink) -> None:
        site.set_fault(FaultKind.SCANNER_REREADS, True, value=2)
        site.scan("LNP:HELD", None)
        first = await read_bytes(scanner, 9)
        loop = asyncio.get_running_loop()
        started = loop.time()
        again = await read_bytes(scanner, 18, timeout=3 * REREAD_INTERVAL_S)
        assert first + again == b"LNP:HELD\r" * 3
        assert loop.time() - started >= REREAD_INTERVAL_S  # the second re-read, a second on
        # Another code shown takes the first out of view: its re-reads stop. The next code
        # is shown once the scanner has sent the first's line (no re-read is due for a second).
        site.scan("LNP:ONE", None)
        assert await read_bytes(scanner, 8) == b"LNP:ONE\r"
        site.scan("LNP:TWO", None)
        site.set_fault(FaultKind.SCANNER_REREADS, False)
        burst = await read_bytes(scanner, 100, timeout=2.5 * REREAD_INTERVAL_S)
        assert burst.count(b"LNP:ONE\r") == 0
        assert burst.count(b"LNP:TWO\r") == 3

    run(SiteConfig(), test)


def test_play_field_faults_switches_each_and_refuses_a_bad_value() -> None:
    async def test(site: SimulatedSite, _link: MemoryLink, _scanner: MemoryLink) -> None:
        with pytest.raises(ConfigError, match="line_end"):
            play_field_faults(site, line_end=5)
        assert site.faults() == []  # refused: nothing switched
        said = play_field_faults(site, line_end=2, rereads=3)
        assert said == "an echoing adapter, a LF scanner, AIM ids, 3 re-reads of each code"
        kinds = {f["kind"] for f in site.faults()}
        assert kinds == {"adapter_echo", "scanner_suffix", "scanner_aim_id", "scanner_rereads"}
        assert site.scanner.line_end is Suffix.LF and site.rereads == 3

    run(SiteConfig(), test)
