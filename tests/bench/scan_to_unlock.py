"""Benchmark: from a pickup code's last byte off the scanner to the unlock frame's last byte
at the lock board, over real ptys at the boards' documented speeds, beside the agent's
footprint on a device (resident memory, idle CPU).

The agent runs as its own process (`lockernet edge run`), as on a device, against hw_sim
devices on ptys in this process and a private broker: two CU16 boards and a scanner. Each
pickup's two instants are taken where the simulator emulates the wire: when the scanner
line's last byte has left the scanner, and when the unlock frame's last byte reaches the
board. Beside them: the pure wire time of the bytes involved, the agent's resident memory
(VmRSS, after the pickups) and its CPU over an idle spell (/proc/PID/stat, user + system),
each with the goal of issue 16 and whether it was met.

    .venv/bin/python tests/bench/scan_to_unlock.py [--pickups 500] [--poll 0.1] [--idle 60]
        [--state-dir DIR] [--scanner-chunk 16] [--py-spy DIR]

The store's durability is part of the interval (its commit is fsynced before the door
moves), so the run also times that alone on the same file system: a one-row commit of a
SQLite WAL at synchronous=FULL, as the store makes them (disk_commit_*). `--state-dir` puts
the agent's state (and that measurement) elsewhere, e.g. on a memory file system (/dev/shm),
where an fsync returns at once: what is left is the agent's own time.

`--py-spy DIR` records the agent with py-spy (pip install py-spy) during the pickups and
during the idle spell: DIR/pickups.svg and DIR/idle.svg (flame graphs). The recording costs
the agent some time: take the figures from a run without it.

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from central.broker import PrivateBroker  # noqa: E402
from hw_sim.devices.site import SimulatedSite  # noqa: E402
from hw_sim.devices.site import SiteConfig as SimConfig  # noqa: E402
from hw_sim.people.people import Consumer, Courier, Pace  # noqa: E402
from protocols.boards import cu16  # noqa: E402
from protocols.clock import SystemClock  # noqa: E402
from protocols.labels import make_s10  # noqa: E402
from protocols.tokens import CourierBadge, PickupCode, TokenSigner  # noqa: E402
from protocols.topics import Topics  # noqa: E402
from tests.edge.rig import Observer  # noqa: E402

BOARDS = 2
SLOTS = 16 * BOARDS
SCANNER_BAUD = 9600
# A UART hands a line on as its bytes come, a FIFO's worth at a time (16 bytes on a 16550 and
# on a Pi's PL011): the agent sees a scanner's line begin ~0.17 s before its last byte.
SCANNER_CHUNK_BYTES = 16
PACE = Pace(handling_s=0.01, glance_s=0.002, patience_s=5.0)
# The goals of issue 16 for one agent with two boards and a scanner on a Pi-class device.
GOAL_P99_WIRE_TIMES = 5  # p99 scan-to-unlock within 5x the unlock frame's wire time
GOAL_RSS_MIB = 40.0
GOAL_IDLE_CPU_PERCENT = 0.5
# The unlock frame: 5 bytes of 10 bits (8N1) at the CU16's 19,200 baud (hardware.md §1).
WIRE_UNLOCK_FRAME_MS = 5 * 10 / cu16.BAUD_RATE * 1000


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, and its parts RssAnon (the process's own) and RssFile (mapped files: the
    interpreter, the extension modules, shared libraries), in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0])
    return found


def disk_commit_ms(directory: Path, commits: int = 200) -> list[float]:
    """The time of `commits` one-row commits of a SQLite WAL at synchronous=FULL in
    `directory`, ms each: what the store's fsync alone costs on that file system."""
    import sqlite3

    path = directory / "fsync-probe.db"
    db = sqlite3.connect(path, isolation_level=None)
    times = []
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE probe (at REAL)")
        for _ in range(commits):
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO probe VALUES (?)", (started,))
            db.execute("COMMIT")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return times


def _config(tmp: Path, state: Path, key: Path, broker: PrivateBroker, poll_s: float) -> str:
    lines = [
        'site_id = "L0001"',
        f'state_dir = "{state}"',
        f'central_public_key = "{key}"',
        "[broker]",
        f'host = "{broker.host}"',
        f"port = {broker.port}",
        "[lock_bus]",
        f'port = "{tmp / "dev" / "locks"}"',
        f"boards = {list(range(BOARDS))}",
        f"poll_interval_s = {poll_s}",
        "[scanner]",
        f'port = "{tmp / "dev" / "scanner"}"',
        f"baud = {SCANNER_BAUD}",
    ]
    for board in range(BOARDS):
        for lock in range(1, 17):
            lines += [
                "[[slots]]",
                f'id = "{"AB"[board]}{lock:02d}"',
                f"board = {board}",
                f"lock = {lock}",
                'size = "M"',
            ]
    return "\n".join(lines) + "\n"


@dataclass
class Rig:
    """The agent's process, the simulated site it serves, and what the wire saw."""

    clock: SystemClock
    signer: TokenSigner
    sim: SimulatedSite
    observer: Observer
    agent: asyncio.subprocess.Process
    scan_done: list[float] = field(default_factory=list)  # scanner lines' last bytes out
    unlocks: list[float] = field(default_factory=list)  # unlock frames' last bytes in


@asynccontextmanager
async def running_agent(
    poll_s: float, state: Path, scanner_chunk: int | None = SCANNER_CHUNK_BYTES
) -> AsyncIterator[Rig]:
    """A private broker, the simulated site on ptys and `lockernet edge run` serving it with
    its state in `state` (a new folder), online; all stopped and removed at exit. The
    scanner's lines reach the agent `scanner_chunk` bytes at a time as they cross the wire
    (None: each whole, once its last byte has)."""
    clock = SystemClock()
    signer = TokenSigner.generate()
    scratch = tempfile.TemporaryDirectory(prefix="lockernet-bench-")
    tmp = Path(scratch.name)
    (tmp / "dev").mkdir()
    key = tmp / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    broker = PrivateBroker(tmp / "broker")
    broker.start()
    observer = Observer(broker, Topics(), "L0001")
    sim = SimulatedSite(clock, SimConfig(boards=BOARDS))
    _locks_port, scanner_port = sim.serve_pty(tmp / "dev")
    config = tmp / "site.toml"
    config.write_text(_config(tmp, state, key, broker, poll_s))
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "protocols.cli",
        "edge",
        "run",
        "--config",
        str(config),
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.DEVNULL,
    )
    rig = Rig(clock, signer, sim, observer, agent)

    # Where the simulator's wire ends: the scanner line's last byte leaves the scanner...
    line = scanner_port._line
    line.chunk_bytes = scanner_chunk
    emit = line._emit

    def timed_emit(data: bytes) -> None:
        if data[-1:] in (b"\r", b"\n"):  # the chunk that ends the line
            rig.scan_done.append(clock.monotonic())
        emit(data)

    line._emit = timed_emit
    # ...and the unlock frame's last byte reaches the board.
    bus = sim.locks
    handle = bus._handle  # type: ignore[attr-defined]

    def timed_handle(frame: cu16.Frame, at: float) -> None:
        if frame.cmd == cu16.Command.UNLOCK:
            rig.unlocks.append(at)
        handle(frame, at)

    bus._handle = timed_handle  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 20
        while b'"online":true' not in observer.retained.get("status", b""):
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not come online")
            await asyncio.sleep(0.05)
        yield rig
    finally:
        if agent.returncode is None:
            agent.send_signal(signal.SIGTERM)
            await agent.wait()
        await sim.aclose()
        observer.close()
        broker.stop()
        scratch.cleanup()
        shutil.rmtree(state, ignore_errors=True)


async def pickups(rig: Rig, count: int) -> tuple[list[float], int]:
    """Reserve, deposit and pick up `count` parcels, a slot-full at a time; returns each
    pickup's scan-to-unlock in ms and the pickup code's length (characters)."""
    from protocols.commands import sign_command
    from protocols.messages import Command, ReserveSlot, SizeClass, encode

    clock, signer, observer = rig.clock, rig.signer, rig.observer
    now = clock.now()
    badge = signer.courier_badge(
        CourierBadge("bench", "post", int(now) - 60, int(now) + 86400, os.urandom(8))
    )
    latencies: list[float] = []
    code_len = 0
    serial = 0
    while len(latencies) < count:
        batch = []
        for _ in range(min(SLOTS, count - len(latencies))):
            serial += 1
            batch.append(make_s10("RR", 30_000_000 + serial, "CN"))
        for label in batch:
            command = Command(
                id=secrets.token_hex(8),
                site="L0001",
                issued_at=clock.now(),
                expires_at=clock.now() + 60,
                nonce=secrets.token_hex(8),
                body=ReserveSlot(parcel=label, size=SizeClass.M, until=clock.now() + 3600),
            )
            observer.send(encode(sign_command(signer, command)))
            while observer.reply_to(command.id) is None:
                await asyncio.sleep(0.002)
        report = await Courier(rig.sim, PACE).deposit(badge, batch)
        assert len(report.placed) == len(batch), report
        while len(observer.of_type("parcel_deposited")) < serial:
            await asyncio.sleep(0.005)
        for label in batch:
            code = signer.pickup_code(
                PickupCode("L0001", label, int(clock.now()) + 3600, os.urandom(8))
            )
            code_len = len(code)
            scans, opened = len(rig.scan_done), len(rig.unlocks)
            result = await Consumer(rig.sim, PACE).pick_up(code)
            assert result.taken == [label], result
            latencies.append((rig.unlocks[opened] - rig.scan_done[scans]) * 1000)
        while len(observer.of_type("parcel_picked_up")) < len(latencies):
            await asyncio.sleep(0.005)
    return latencies, code_len


@asynccontextmanager
async def py_spy(pid: int, out: Path | None, name: str) -> AsyncIterator[None]:
    """py-spy records `pid` into out/NAME.svg while the block runs (nothing if `out` is None)."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--output",
        str(out / f"{name}.svg"),
        "--idle",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its flame graph on SIGINT
        await spy.wait()


async def bench(
    count: int,
    poll_s: float,
    idle_s: float,
    *,
    state_root: Path | None,
    scanner_chunk: int | None,
    spy: Path | None,
) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="lockernet-bench-state-", dir=state_root))
    disk = disk_commit_ms(state)
    async with running_agent(poll_s, state, scanner_chunk) as rig:
        pid = rig.agent.pid
        async with py_spy(pid, spy, "pickups"):
            latencies, code_len = await pickups(rig, count)
        memory = _proc_memory_kib(pid)
        async with py_spy(pid, spy, "idle"):
            cpu_before = _proc_cpu_seconds(pid)
            started = time.monotonic()
            await asyncio.sleep(idle_s)
            idle_cpu = (_proc_cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
    p99 = _percentile(latencies, 99)
    rss_mib = memory["VmRSS"] / 1024
    return {
        "benchmark": "scan_to_unlock",
        "pickups": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(latencies), 2),
        # Baselines: the bytes that must cross the wire inside the interval (the unlock
        # frame at 19200 baud), and the scanner line itself (text and CR) at its speed.
        "wire_unlock_frame_ms": round(WIRE_UNLOCK_FRAME_MS, 3),
        "wire_scanner_line_ms": round((code_len + 1) * 10 / SCANNER_BAUD * 1000, 2),
        "p99_wire_times": round(p99 / WIRE_UNLOCK_FRAME_MS, 1),
        # The store's fsynced commit alone, on the file system of the agent's state.
        "state_dir": str(state.parent),
        "disk_commit_p50_ms": round(statistics.median(disk), 2),
        "disk_commit_p99_ms": round(_percentile(disk, 99), 2),
        "poll_interval_s": poll_s,
        "scanner_chunk_bytes": scanner_chunk,
        "agent_rss_mib": round(rss_mib, 1),
        "agent_rss_anon_mib": round(memory["RssAnon"] / 1024, 1),
        "agent_rss_file_mib": round(memory["RssFile"] / 1024, 1),
        "idle_s": idle_s,
        "agent_idle_cpu_percent": round(idle_cpu * 100, 2),
        "goals_met": {
            "p99": p99 <= GOAL_P99_WIRE_TIMES * WIRE_UNLOCK_FRAME_MS,
            "rss": rss_mib <= GOAL_RSS_MIB,
            "idle_cpu": idle_cpu * 100 <= GOAL_IDLE_CPU_PERCENT,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pickups", type=int, default=500)
    parser.add_argument("--poll", type=float, default=0.1, help="board poll interval, s")
    parser.add_argument("--idle", type=float, default=60.0, help="idle spell measured, s")
    parser.add_argument(
        "--state-dir", type=Path, default=None, metavar="DIR", help="where the agent's state goes"
    )
    parser.add_argument(
        "--scanner-chunk",
        type=int,
        default=SCANNER_CHUNK_BYTES,
        metavar="BYTES",
        help="bytes of a scanner line handed on at a time as they cross the wire; 0: the"
        " whole line at once",
    )
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR")
    args = parser.parse_args()
    if args.pickups < 1:
        parser.error("--pickups must be at least 1")
    chunk = args.scanner_chunk or None
    result = asyncio.run(
        bench(
            args.pickups,
            args.poll,
            args.idle,
            state_root=args.state_dir,
            scanner_chunk=chunk,
            spy=args.py_spy,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
