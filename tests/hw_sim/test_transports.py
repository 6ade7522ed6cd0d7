"""The in-memory and the pty transports carry the same bytes for the same script."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hw_sim.devices.faults import FaultKind
from hw_sim.devices.memory_transport import MemoryPort
from hw_sim.devices.site import SimulatedSite, SiteConfig
from protocols.boards import cu16
from protocols.clock import SystemClock
from tests.eventually import eventually_async
from tests.hw_sim.conftest import PtyHost, before_sentinel, exchange, read_bytes

CONFIG = SiteConfig(boards=2, seed=42)


async def script(site: SimulatedSite, locks: Any, scanner: Any) -> list[bytes]:
    """A host and a person doing the same things; returns what the host read at each step."""
    seen = [await exchange(locks, cu16.query_status(0).to_bytes(), 9)]
    locks.write(cu16.unlock(0, 2).to_bytes())
    seen.append(await exchange(locks, cu16.query_status(0).to_bytes(), 9))
    site.compartment(0, 2).place("RR123456785CN")
    site.compartment(0, 2).close_door()
    seen.append(await exchange(locks, cu16.query_status(0).to_bytes(), 9))
    site.set_fault(FaultKind.LINE_NOISE, True, board=0, value=3)
    seen.append(await exchange(locks, cu16.query_status(0).to_bytes(), 12))
    site.set_fault(FaultKind.LINE_NOISE, False, board=0)
    site.set_fault(FaultKind.CORRUPT_REPLY, True, board=1)
    seen.append(await exchange(locks, cu16.query_all().to_bytes(), 18))
    site.set_fault(FaultKind.CORRUPT_REPLY, False, board=1)
    seen.append(await exchange(locks, cu16.unlock_time(1, 3).to_bytes(), 6))
    site.scan("LNP:SAME-BYTES")
    seen.append(await read_bytes(scanner, 15))
    scanner.write(b"\x16M\rBEPLVL?.")
    seen.append(await read_bytes(scanner, 9))
    return seen


def test_memory_and_pty_carry_the_same_bytes(tmp_path: Path) -> None:
    async def over_memory() -> list[bytes]:
        site = SimulatedSite(SystemClock(), CONFIG)
        locks, scanner = site.serve_memory()
        try:
            return await script(site, locks.open(), scanner.open())
        finally:
            await site.aclose()

    async def over_pty() -> list[bytes]:
        site = SimulatedSite(SystemClock(), CONFIG)
        locks_port, scanner_port = site.serve_pty(tmp_path)
        locks = PtyHost(locks_port.path, 19200)
        scanner = PtyHost(scanner_port.path, 9600)
        try:
            return await script(site, locks, scanner)
        finally:
            locks.close()
            scanner.close()
            await site.aclose()

    memory = asyncio.run(over_memory())
    pty = asyncio.run(over_pty())
    assert memory == pty
    # And the script did what it says: a noisy reply, a corrupted one, a code.
    assert len(memory[3]) == 12 and memory[3].endswith(memory[2])
    # Board 0's answer to the query of all boards: under 0x36 (hardware.md §1).
    assert memory[4][:9] == bytes.fromhex("02 00 36 FD FF 02 00 03 39")
    assert memory[6] == b"LNP:SAME-BYTES\r"


def test_memory_link_at_the_wrong_baud_rate_hears_nothing() -> None:
    async def main() -> None:
        site = SimulatedSite(SystemClock(), SiteConfig())
        port, _ = site.serve_memory()
        try:
            link = port.open(baudrate=9600)
            link.write(cu16.query_status(0).to_bytes())
            # The sentinel at 9600: the port has taken the bytes in and dropped them.
            await eventually_async(lambda: port.stats.wrong_baud_bytes == 5, what="the drop")
            link.baudrate = 19200
            all_locked = bytes.fromhex("02 00 35 FF FF 00 00 03 38")
            query = cu16.query_status(0).to_bytes()
            assert await before_sentinel(link, query, all_locked) == b""  # nothing came at 9600
        finally:
            await site.aclose()

    asyncio.run(main())


def test_a_closed_memory_link_raises_on_read_and_write() -> None:
    async def main() -> None:
        site = SimulatedSite(SystemClock(), SiteConfig())
        port, _ = site.serve_memory()
        assert isinstance(port, MemoryPort)
        try:
            link = port.open()
            link.close()
            with pytest.raises(OSError):
                await link.read()
            with pytest.raises(OSError):
                link.write(b"\x02")
        finally:
            await site.aclose()

    asyncio.run(main())


def test_many_sites_share_one_event_loop_in_memory() -> None:
    """The point of the in-memory link: hundreds of sites, no descriptors, one loop."""

    async def main() -> None:
        sites = [SimulatedSite(SystemClock(), SiteConfig(seed=n)) for n in range(300)]
        links = [site.serve_memory()[0].open() for site in sites]
        try:
            frame = cu16.query_status(0).to_bytes()
            replies = await asyncio.gather(*(exchange(link, frame, 9, 5.0) for link in links))
            assert set(replies) == {bytes.fromhex("02 00 35 FF FF 00 00 03 38")}
        finally:
            await asyncio.gather(*(site.aclose() for site in sites))

    asyncio.run(main())
