"""The agent's footprint on a device and what stands between a scan and its door
(docs/edge.md, Footprint): what `lockernet edge run` imports, which commits are fsynced and
when the WAL is checkpointed, and the polls that leave the bus free while a code comes in."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time

import pytest

from edge.agent import doors
from edge.drivers.links import ByteLink
from edge.drivers.scanner import ScannerReader
from edge.errors import PortClosed
from edge.store.sqlite import CHECKPOINT_EVERY_COMMITS, Store, StoreUnavailable
from protocols.clock import SystemClock
from protocols.messages import DoorOpened, DoorOpenReason, SizeClass
from protocols.scanner import ScannerFraming, Suffix
from tests.eventually import eventually_async

# What a device's agent never needs: central's and the simulator's code, the operator's
# terminal tables, the web stack, the charts, prometheus_client (unless [metrics] is set).
NOT_ON_A_DEVICE = (
    "central",
    "hw_sim",
    "rich",
    "httpx",
    "fastapi",
    "matplotlib",
    "psycopg",
    "prometheus_client",
)


def test_lockernet_edge_run_imports_nothing_of_central_the_simulator_or_the_web():
    # A fresh interpreter, as systemd starts one: the command line as `lockernet edge run`
    # builds it, then everything the agent's run imports.
    script = (
        "import sys\n"
        "from protocols.cli import build_parser\n"
        "build_parser('edge').parse_args(['edge', 'run', '--config', 'site.toml'])\n"
        "import edge.host.service\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({NOT_ON_A_DEVICE!r})))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_every_command_is_still_offered_when_none_is_named():
    from protocols.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["no-such-command"])
    listed = {line.split()[0] for line in parser.format_help().splitlines() if line[:4] == " " * 4}
    assert {"edge", "central", "sim", "hwsim", "courier"} <= listed


def _store(tmp_path) -> Store:
    store = Store(tmp_path / "site.db", "L0001")
    store.ensure_slots([("A01", SizeClass.M)], 1_000.0)
    return store


def _synchronous(store: Store) -> int:
    # 2 is FULL: the WAL fsynced at every commit
    return int(store._db.execute("PRAGMA synchronous").fetchone()[0])


def test_a_pickup_after_an_acknowledgement_is_still_fsynced_before_its_door_opens(tmp_path):
    store = _store(tmp_path)
    with store.transaction() as tx:
        event = tx.emit(DoorOpened(slot="A01", reason=DoorOpenReason.PICKUP), 1_000.0)
    store.acknowledge([event.seq], 1_001.0)
    assert store.pending_count() == 0  # the acknowledgement is kept
    assert _synchronous(store) == 2  # and the next commit (a pickup's) is fsynced again
    store.close()


def test_an_acknowledgement_that_fails_leaves_the_store_fsyncing(tmp_path):
    store = _store(tmp_path)
    with store.transaction() as tx:
        event = tx.emit(DoorOpened(slot="A01", reason=DoorOpenReason.PICKUP), 1_000.0)
    other = sqlite3.connect(tmp_path / "site.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a technician's shell holds the write lock
    with pytest.raises(StoreUnavailable):
        store.acknowledge([event.seq], 1_001.0)
    other.execute("ROLLBACK")
    other.close()
    assert store.pending_count() == 1  # not acknowledged: it goes again
    assert _synchronous(store) == 2
    store.close()


def _in_database_file(path, parcel: str) -> bool:
    """Whether the database file itself (not its WAL) holds the reservation of `parcel`."""
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)  # immutable: the WAL unread
    try:
        found = db.execute("SELECT 1 FROM expected WHERE parcel = ?", (parcel,)).fetchone()
    finally:
        db.close()
    return found is not None


def test_commits_leave_the_wal_for_the_timers_to_copy_back(tmp_path):
    store = _store(tmp_path)
    path = tmp_path / "site.db"
    assert store.checkpoint_if_due(every=0)  # the tables into the file, to look in
    # Well past SQLite's own checkpoint mark (1,000 WAL pages): no commit copies the WAL back
    # into the file, so none (a pickup's) pays for it...
    n = 0
    while (tmp_path / "site.db-wal").stat().st_size < 1_100 * 4096:
        n += 1
        with store.transaction() as tx:
            tx.expect(f"RR{n:09d}CN", SizeClass.M, None, 2_000.0 + n)
    last = f"RR{n:09d}CN"
    assert not _in_database_file(path, last)
    # ...the timers' tick does, once enough commits went in since it last did.
    assert n >= CHECKPOINT_EVERY_COMMITS
    assert store.checkpoint_if_due()
    assert _in_database_file(path, last)
    assert not store.checkpoint_if_due()  # nothing new since
    store.close()


def test_a_site_store_of_thousands_of_rows_keeps_sqlites_cache_small(tmp_path):
    store = _store(tmp_path)
    assert int(store._db.execute("PRAGMA cache_size").fetchone()[0]) == -512  # KiB
    store.close()


class _Wire:
    """A scanner's port in memory: the test hands it chunks as the wire delivers them."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        chunk = await self.chunks.get()
        if not chunk:
            raise PortClosed("unplugged")
        return chunk

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


async def _reader(wire: _Wire) -> tuple[ScannerReader, asyncio.Task[None]]:
    async def opener() -> ByteLink:
        return wire

    reader = ScannerReader(opener, ScannerFraming(suffix=Suffix.CR), SystemClock(), lambda *_: None)
    return reader, asyncio.ensure_future(reader.run())


def test_a_poll_waits_while_a_code_comes_in_and_goes_once_it_is_read():
    async def scenario() -> None:
        wire = _Wire()
        reader, task = await _reader(wire)
        wire.chunks.put_nowait(b"LNP:ABCDEFGH")  # the code's first bytes
        await eventually_async(lambda: reader.line_since is not None, what="a line begun")
        poll = asyncio.ensure_future(doors.after_scan_line(reader))
        await asyncio.sleep(0.05)
        assert not poll.done()  # the bus stays free for the unlock this code may ask for
        wire.chunks.put_nowait(b"IJKL\r")
        await asyncio.wait_for(poll, 1)
        # The code was handed to the scan desk before the poll went on.
        assert reader.codes.get_nowait().text == "LNP:ABCDEFGHIJKL"
        assert reader.line_since is None
        task.cancel()

    asyncio.run(scenario())


def test_a_line_that_never_ends_holds_the_polls_only_so_long(monkeypatch):
    monkeypatch.setattr(doors, "SCAN_LINE_HOLD_S", 0.2)

    async def scenario() -> None:
        wire = _Wire()
        reader, task = await _reader(wire)
        wire.chunks.put_nowait(b"\x00\x17noise with no end")
        await eventually_async(lambda: reader.line_since is not None, what="a line begun")
        started = time.monotonic()
        await asyncio.wait_for(doors.after_scan_line(reader), 2)
        assert 0.1 < time.monotonic() - started < 1.0
        started = time.monotonic()
        await doors.after_scan_line(reader)  # past the hold from the line's start: at once
        assert time.monotonic() - started < 0.05
        task.cancel()

    asyncio.run(scenario())


def test_an_unplugged_scanner_holds_no_poll():
    async def scenario() -> None:
        wire = _Wire()
        reader, task = await _reader(wire)
        wire.chunks.put_nowait(b"LNP:ABCD")
        await eventually_async(lambda: reader.line_since is not None, what="a line begun")
        wire.chunks.put_nowait(b"")  # the cable pulled mid-line
        await eventually_async(lambda: reader.line_since is None, what="the line given up")
        await asyncio.wait_for(doors.after_scan_line(reader), 0.05)
        task.cancel()

    asyncio.run(scenario())


def test_a_simulated_scanner_told_to_hands_its_line_on_as_it_crosses_the_wire():
    # The premise of the held poll in the bench: the agent sees a line begin before it ends.
    from hw_sim.devices.port import DeviceLine, PortStats
    from hw_sim.devices.reply_schedule import wire_time
    from hw_sim.devices.scanner import Scanner

    async def scenario() -> list[tuple[float, bytes]]:
        clock = SystemClock()
        scanner = Scanner()
        heard: list[tuple[float, bytes]] = []
        line = DeviceLine(
            scanner,
            clock,
            lambda data: heard.append((clock.monotonic(), data)),
            lambda: None,
            PortStats(),
        )
        line.chunk_bytes = 16
        playing = asyncio.ensure_future(line.run())
        scanner.present("LNP:" + "A" * 60, clock.monotonic())
        await eventually_async(lambda: heard and heard[-1][1].endswith(b"\r"), what="a line")
        playing.cancel()
        return heard

    heard = asyncio.run(scenario())
    text = b"".join(chunk for _, chunk in heard)
    assert text.startswith(b"LNP:AAAA") and text.endswith(b"\r")
    assert [len(chunk) for _, chunk in heard[:-1]] == [16] * (len(heard) - 1)
    # the first bytes arrive well before the last: ~16 bytes' wire time apart each
    assert heard[-1][0] - heard[0][0] > (len(heard) - 2) * wire_time(16, Scanner().baud) * 0.8
