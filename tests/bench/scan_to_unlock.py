"""Benchmark: from a pickup code's last byte off the scanner to the unlock frame's last byte
at the lock board, over real ptys at the boards' documented speeds.

The agent runs as its own process (`lockernet edge run`), as on a device, against hw_sim
devices on ptys in this process and a private broker. Each pickup's two instants are taken
where the simulator emulates the wire: when the scanner line's last byte has left the
scanner, and when the unlock frame's last byte reaches the board. Beside them: the pure wire
time of the bytes involved, and the agent's resident memory and idle CPU.

    .venv/bin/python tests/bench/scan_to_unlock.py [--pickups 500]

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
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
from tests.edge.rig import Observer  # noqa: E402

BOARDS = 2
SLOTS = 16 * BOARDS
SCANNER_BAUD = 9600
PACE = Pace(handling_s=0.01, glance_s=0.002, patience_s=5.0)
IDLE_SECONDS = 10.0


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _config(tmp: Path, key: Path, broker: PrivateBroker, poll_s: float) -> str:
    lines = [
        'site_id = "L0001"',
        f'state_dir = "{tmp / "state"}"',
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


async def bench(pickups: int, poll_s: float) -> dict[str, Any]:
    from protocols.commands import sign_command
    from protocols.messages import Command, ReserveSlot, SizeClass, encode

    clock = SystemClock()
    signer = TokenSigner.generate()
    scratch = tempfile.TemporaryDirectory(prefix="lockernet-bench-")
    tmp = Path(scratch.name)
    (tmp / "dev").mkdir()
    key = tmp / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    broker = PrivateBroker(tmp / "broker")
    broker.start()
    observer = Observer(broker, __import__("protocols.topics").topics.Topics(), "L0001")
    sim = SimulatedSite(clock, SimConfig(boards=BOARDS))
    _locks_port, scanner_port = sim.serve_pty(tmp / "dev")

    # Where the simulator's wire ends: the scanner line's last byte leaves the scanner...
    scan_done: list[float] = []
    line = scanner_port._line
    emit = line._emit

    def timed_emit(data: bytes) -> None:
        scan_done.append(clock.monotonic())
        emit(data)

    line._emit = timed_emit
    # ...and the unlock frame's last byte reaches the board.
    unlocks: list[float] = []
    bus = sim.locks
    handle = bus._handle  # type: ignore[union-attr]

    def timed_handle(frame: cu16.Frame, at: float) -> None:
        if frame.cmd == cu16.Command.UNLOCK:
            unlocks.append(at)
        handle(frame, at)

    bus._handle = timed_handle  # type: ignore[union-attr]

    config = tmp / "site.toml"
    config.write_text(_config(tmp, key, broker, poll_s))
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
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 20
        while b'"online":true' not in observer.retained.get("status", b""):
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not come online")
            await asyncio.sleep(0.05)
        now = clock.now()
        badge = signer.courier_badge(
            CourierBadge("bench", "post", int(now) - 60, int(now) + 86400, os.urandom(8))
        )
        serial = 0
        while len(latencies) < pickups:
            batch = []
            for _ in range(min(SLOTS, pickups - len(latencies))):
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
            report = await Courier(sim, PACE).deposit(badge, batch)
            assert len(report.placed) == len(batch), report
            while len(observer.of_type("parcel_deposited")) < serial:
                await asyncio.sleep(0.005)
            for label in batch:
                code = signer.pickup_code(
                    PickupCode("L0001", label, int(clock.now()) + 3600, os.urandom(8))
                )
                scans, opened = len(scan_done), len(unlocks)
                result = await Consumer(sim, PACE).pick_up(code)
                assert result.taken == [label], result
                latencies.append((unlocks[opened] - scan_done[scans]) * 1000)
            while len(observer.of_type("parcel_picked_up")) < len(latencies):
                await asyncio.sleep(0.005)
        rss_kib = _proc_rss_kib(agent.pid)
        cpu_before = _proc_cpu_seconds(agent.pid)
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = (_proc_cpu_seconds(agent.pid) - cpu_before) / IDLE_SECONDS
    finally:
        if agent.returncode is None:
            agent.send_signal(signal.SIGTERM)
            await agent.wait()
        await sim.aclose()
        observer.close()
        broker.stop()
        scratch.cleanup()
    code_len = len(code) + 1  # the text plus its CR suffix
    return {
        "benchmark": "scan_to_unlock",
        "pickups": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(_percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        # Baselines: the bytes that must cross the wire inside the interval (the unlock
        # frame at 19200 baud), and the scanner line itself at its speed.
        "wire_unlock_frame_ms": round(5 * 10 / cu16.BAUD_RATE * 1000, 3),
        "wire_scanner_line_ms": round(code_len * 10 / SCANNER_BAUD * 1000, 2),
        "poll_interval_s": poll_s,
        "agent_rss_mib": round(rss_kib / 1024, 1),
        "agent_idle_cpu_percent": round(idle_cpu * 100, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pickups", type=int, default=500)
    parser.add_argument("--poll", type=float, default=0.1, help="board poll interval, s")
    args = parser.parse_args()
    result = asyncio.run(bench(args.pickups, args.poll))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
