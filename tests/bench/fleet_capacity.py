"""Benchmark: the most site agents one process holds with zero loss and bounded latency.

Each agent is the real `SiteAgent` with its own paho MQTT 5 connection, on simulated boards
in memory (two CU16 boards of 16 doors, polled every second), all agents on one event loop
in this process. Every agent produces one event per second through the real path: a door of
its simulated locker is pried open or pushed shut once a second (two doors taking turns, so
each state lasts two polls), the agent's poll sees it, commits `door_forced` / `door_closed`
to its store's outbox and publishes it at QoS 1. A separate subscriber process (raw paho,
QoS 1, plain subscription to lockernet/v1/sites/+/events) counts each (site, seq) once and
takes each event's latency from its `at` (stamped by the agent when it committed the event)
to receipt; same machine, same wall clock.

The fleet grows step by step (agents are added, never restarted). A step holds when, over
its window, every event the agents committed arrived (after a short drain), p99 latency is
within the bound, no agent missed a door change (its events fall short of the changes made
at least two seconds before the window closed: its boards were not polled in time), and the
doors kept changing at 95 % of the intended rate or more. The run stops at the first step
that does not hold, at --max-agents, or when the next step would not fit the time budget.

Baseline, same run, same broker, same subscriber: one raw paho client publishing each
step's rate (events-shaped JSON, QoS 1) for a few seconds, once the agents are stopped.

    .venv/bin/python tests/bench/fleet_capacity.py [--max-agents 3000] [--step-seconds 20]
        [--steps 100,250,500,1000,1500,2000,2500,3000]

Prints a short table, then one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402

from central.broker import PrivateBroker  # noqa: E402
from edge.agent import SiteAgent  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.drivers.links import ByteLink, Opener  # noqa: E402
from hw_sim.devices.compartment import Compartment  # noqa: E402
from hw_sim.devices.memory_transport import MemoryPort  # noqa: E402
from hw_sim.devices.site import SimulatedSite  # noqa: E402
from hw_sim.devices.site import SiteConfig as SimConfig  # noqa: E402
from protocols.clock import SystemClock  # noqa: E402
from protocols.tokens import TokenSigner  # noqa: E402
from protocols.topics import SiteChannel, Topics  # noqa: E402

DEFAULT_STEPS = [100, 250, 500, 600, 700, 800, 1000, 1500, 2000, 2500, 3000]
DEFAULT_STEP_S = 20.0
DEFAULT_BUDGET_S = 480.0  # the whole run, broker start to teardown
P99_BOUND_MS = 2000.0  # a step whose p99 (commit -> central) exceeds this does not hold
MIN_OFFERED_RATIO = 0.95  # the door changes must keep pace: n agents, n changes a second
DETECT_SLACK_S = 2.0  # a door change is seen within two polls, or it was missed
BOARDS = 2
SLOTS_PER_BOARD = 16
POLL_INTERVAL_S = 1.0  # the boards are really polled, at a realistic pace
TOGGLE_BUCKETS = 20  # door changes are spread over the second in 50 ms slices
TOGGLE_CATCH_UP_S = 1.0  # a loop stall up to this long is made up; a longer one is not
START_BATCH = 50  # agents started together (their connects share a small executor)
CONNECT_WAIT_S = 90.0
SETTLE_S = 3.0
DRAIN_WAIT_S = 15.0
LAG_PROBE_S = 0.1
BASELINE_S = 5.0
BASELINE_SITE = "BASE"
BASELINE_RESERVE_S = 60.0  # of the time budget, kept for the baselines after the steps
FDS_HEADROOM = 200
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROLE_ARGS = [sys.executable, __file__, "--role"]


# ============================================================================ processes
@dataclass(frozen=True)
class ProcSample:
    cpu_s: float
    rss_mib: float
    hwm_mib: float


def sample(pid: int) -> ProcSample:
    """CPU seconds (all threads) and resident memory of a process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return ProcSample(cpu, rss, hwm)


def usage(before: ProcSample, after: ProcSample, wall_s: float) -> dict[str, float]:
    return {
        "cpu_pct": round(100 * (after.cpu_s - before.cpu_s) / wall_s, 1),
        "rss_mib": round(after.rss_mib, 1),
        "peak_rss_mib": round(after.hwm_mib, 1),
    }


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


# =========================================================================== subscriber
class Received:
    """Every event seen on the broker, once per (site, seq), with its latency."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency_ms: dict[str, dict[int, float]] = {}
        self.deliveries = 0

    def add(self, payload: bytes, now: float) -> None:
        event = json.loads(payload)
        with self.lock:
            self.deliveries += 1
            seqs = self.latency_ms.setdefault(event["site"], {})
            if event["seq"] not in seqs:
                seqs[event["seq"]] = (now - event["at"]) * 1000

    def count(self, ranges: dict[str, list[int]]) -> dict[str, Any]:
        """Events with lo < seq <= hi per site: how many arrived and their latencies."""
        latencies: list[float] = []
        with self.lock:
            for site, (lo, hi) in ranges.items():
                seqs = self.latency_ms.get(site, {})
                latencies.extend(ms for seq, ms in seqs.items() if lo < seq <= hi)
            deliveries = self.deliveries
        out: dict[str, Any] = {"received": len(latencies), "deliveries": deliveries}
        if latencies:
            out |= {
                "p50_ms": round(statistics.median(latencies), 1),
                "p99_ms": round(percentile(latencies, 99), 1),
                "max_ms": round(max(latencies), 1),
            }
        return out


def run_subscriber(port: int) -> int:
    """Subscriber role: subscribe, say "ready", then answer count requests on stdin."""
    received = Received()
    subscribed = threading.Event()
    topics = Topics()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="fleet-bench-central",
        protocol=MQTTProtocolVersion.MQTTv5,
    )

    def on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        c.subscribe(topics.all_sites(SiteChannel.EVENTS), qos=1)

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, codes: Any, p: Any) -> None:
        subscribed.set()

    def on_message(c: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        received.add(bytes(message.payload), time.time())

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(10):
        print(json.dumps({"error": "no SUBACK"}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "stop":
            break
        print(json.dumps(received.count(request["ranges"])), flush=True)
    client.loop_stop()
    client.disconnect()
    return 0


class Subscriber:
    """The controller's handle on the subscriber process."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [*ROLE_ARGS, "subscriber", "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if not self._read().get("ready"):
            raise RuntimeError("the subscriber did not subscribe")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError("the subscriber process ended")
        result: dict[str, Any] = json.loads(line)
        return result

    def count(self, ranges: dict[str, list[int]]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": "count", "ranges": ranges}) + "\n")
        self.process.stdin.flush()
        return self._read()

    async def drained(self, ranges: dict[str, list[int]], expected: int) -> dict[str, Any]:
        """Ask until every expected event arrived, or DRAIN_WAIT_S passed."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + DRAIN_WAIT_S
        while True:
            result = await loop.run_in_executor(None, self.count, ranges)
            if result["received"] >= expected or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.5)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"op": "stop"}) + "\n")
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ============================================================================= baseline
def run_baseline(port: int, rate: int, seconds: float, site: str) -> int:
    """Baseline role: one raw paho client publishes `rate` event-shaped messages a second
    at QoS 1 for `seconds`, waits for every PUBACK, prints what it sent."""
    topic = Topics().site(site, SiteChannel.EVENTS)
    acked = 0
    lock = threading.Lock()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"fleet-bench-{site}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.max_inflight_messages_set(1000)

    def on_publish(c: mqtt.Client, u: Any, mid: int, reason: Any, p: Any) -> None:
        nonlocal acked
        with lock:
            acked += 1

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    before = sample(os.getpid())
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = min(int(elapsed * rate), int(seconds * rate))
        while sent < due:
            sent += 1
            body = {
                "v": 1,
                "site": site,
                "seq": sent,
                "id": f"b{sent}",
                "at": time.time(),
                "payload": {"type": "door_closed", "slot": "A01", "occupied": False},
            }
            client.publish(topic, json.dumps(body), qos=1)
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    while acked < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    wall = time.monotonic() - started
    after = sample(os.getpid())
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"sent": sent, "acked": acked, "publisher": usage(before, after, wall)}))
    return 0


def baseline(port: int, rate: int, subscriber: Subscriber) -> dict[str, Any]:
    site = f"{BASELINE_SITE}{rate}"
    done = subprocess.run(
        [*ROLE_ARGS, "baseline", "--port", str(port), "--rate", str(rate), "--site", site],
        capture_output=True,
        text=True,
        check=True,
        timeout=BASELINE_S + 30,
    )
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    got = asyncio.run(subscriber.drained({site: [0, sent["sent"]]}, sent["sent"]))
    return {
        "rate_per_s": rate,
        "seconds": BASELINE_S,
        "sent": sent["sent"],
        "acked": sent["acked"],
        "received": got["received"],
        "lost": sent["sent"] - got["received"],
        "p50_ms": got.get("p50_ms"),
        "p99_ms": got.get("p99_ms"),
        "max_ms": got.get("max_ms"),
        "publisher": sent["publisher"],
    }


# ================================================================================ fleet
def _memory_opener(port: MemoryPort) -> Opener:
    async def open_port() -> ByteLink:
        return port.open()

    return open_port


@dataclass
class FleetSite:
    agent: SiteAgent
    sim: SimulatedSite
    doors: tuple[Compartment, Compartment]
    changes: int = 0

    def change_a_door(self) -> None:
        """Pry one door open or push it shut; the two doors take turns."""
        door = self.doors[self.changes % 2]
        if door.door_open():
            door.close_door()
        else:
            door.force_open()
        self.changes += 1


@dataclass
class Fleet:
    workdir: Path
    port: int
    signer: TokenSigner = field(default_factory=TokenSigner.generate)
    sites: list[FleetSite] = field(default_factory=list)
    lags_ms: list[tuple[float, float]] = field(default_factory=list)  # (at, lag)

    def __post_init__(self) -> None:
        self.clock = SystemClock()
        self.key = self.workdir / "central.pub"
        self.key.write_bytes(self.signer.verifier().public_pem())
        self._tasks: list[asyncio.Task[None]] = []

    def start_background(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._change_doors_forever()),
            asyncio.ensure_future(self._probe_lag_forever()),
        ]

    async def grow(self, count: int) -> None:
        while len(self.sites) < count:
            first = len(self.sites)
            batch = [self._new_site(i) for i in range(first, min(count, first + START_BATCH))]
            await asyncio.gather(*(site.agent.start() for site in batch))
            self.sites.extend(batch)

    def _new_site(self, index: int) -> FleetSite:
        sim = SimulatedSite(self.clock, SimConfig(boards=BOARDS, seed=index))
        locks, scanner = sim.serve_memory()
        slots = [
            {"id": f"{'ABCD'[b]}{lock:02d}", "board": b, "lock": lock, "size": "M"}
            for b in range(BOARDS)
            for lock in range(1, SLOTS_PER_BOARD + 1)
        ]
        config = parse_config(
            {
                "site_id": f"F{index:05d}",
                "state_dir": str(self.workdir / "sites"),
                "central_public_key": str(self.key),
                "broker": {"host": "127.0.0.1", "port": self.port},
                "lock_bus": {
                    "port": "memory",
                    "boards": list(range(BOARDS)),
                    "poll_interval_s": POLL_INTERVAL_S,
                },
                "scanner": {"port": "memory"},
                "slots": slots,
            }
        )
        agent = SiteAgent(
            config,
            clock=self.clock,
            verifier=self.signer.verifier(),
            lock_opener=_memory_opener(locks),
            scanner_opener=_memory_opener(scanner),
            durable=False,
        )
        doors = (sim.compartment(0, 1), sim.compartment(BOARDS - 1, 2))
        return FleetSite(agent, sim, doors)

    def connected(self) -> int:
        return sum(1 for s in self.sites if s.agent.link.connected)

    def seqs(self) -> dict[str, int]:
        return {s.agent.site: s.agent.store.last_seq() for s in self.sites}

    def changes(self) -> dict[str, int]:
        return {s.agent.site: s.changes for s in self.sites}

    def pending(self) -> int:
        return sum(s.agent.store.pending_count() for s in self.sites)

    async def _change_doors_forever(self) -> None:
        """Each site's doors change once a second, the fleet spread over the second."""
        tick = 0
        started = time.monotonic()
        while True:
            for site in self.sites[tick % TOGGLE_BUCKETS :: TOGGLE_BUCKETS]:
                site.change_a_door()
            tick += 1
            delay = started + tick / TOGGLE_BUCKETS - time.monotonic()
            if delay < -TOGGLE_CATCH_UP_S:
                # Far behind (an overloaded loop): carry on from now rather than catch up in
                # one burst; the changes skipped show as an offered rate below n a second.
                started -= delay
            await asyncio.sleep(max(0.0, delay))

    async def _probe_lag_forever(self) -> None:
        """How late the shared event loop runs a timer: the agents' own scheduling delay."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_PROBE_S)
            now = time.monotonic()
            self.lags_ms.append((now, (now - before - LAG_PROBE_S) * 1000))

    def lag_p99_ms(self, since: float, until: float) -> float | None:
        lags = [lag for at, lag in self.lags_ms if since <= at <= until]
        return round(percentile(lags, 99), 1) if lags else None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for i in range(0, len(self.sites), 200):
            batch = self.sites[i : i + 200]
            await asyncio.gather(*(s.agent.stop(graceful=False) for s in batch))
            await asyncio.gather(*(s.sim.aclose() for s in batch))


# ================================================================================ steps
async def run_steps(
    args: argparse.Namespace,
    *,
    broker: PrivateBroker,
    broker_pid: int,
    subscriber: Subscriber,
    workdir: Path,
    fd_limit: int,
    deadline: float,
) -> tuple[list[dict[str, Any]], str]:
    fleet = Fleet(workdir, broker.port)
    fleet.start_background()
    steps: list[dict[str, Any]] = []
    stop_reason = "all steps held"
    start_s_per_agent = 0.02  # first guess; measured from the first step on
    try:
        for n in args.steps:
            if n > args.max_agents:
                stop_reason = f"--max-agents {args.max_agents} reached"
                break
            new = n - len(fleet.sites)
            fds_per_agent = (open_fds() / max(1, len(fleet.sites))) if fleet.sites else 8
            if open_fds() + new * fds_per_agent + FDS_HEADROOM > fd_limit:
                stop_reason = f"{n} agents would need more than the {fd_limit} open files allowed"
                break
            need = new * start_s_per_agent + SETTLE_S + args.step_seconds + DRAIN_WAIT_S + 10
            if time.monotonic() + need > deadline:
                stop_reason = f"time budget: step {n} needs ~{need:.0f} s more"
                break
            ramp_started = time.monotonic()
            await fleet.grow(n)
            connect_deadline = time.monotonic() + CONNECT_WAIT_S
            while fleet.connected() < n and time.monotonic() < connect_deadline:
                await asyncio.sleep(0.2)
            ramp_s = time.monotonic() - ramp_started
            start_s_per_agent = max(start_s_per_agent, ramp_s / max(1, new))
            if fleet.connected() < n:
                steps.append({"agents": n, "holds": False, "connected": fleet.connected()})
                stop_reason = f"step {n}: only {fleet.connected()} agents connected"
                break
            await asyncio.sleep(SETTLE_S)
            step = await measure(fleet, n, args.step_seconds, broker_pid, subscriber)
            step["ramp_s"] = round(ramp_s, 1)
            step["open_fds"] = open_fds()
            steps.append(step)
            print(_row(step), file=sys.stderr, flush=True)
            if not step["holds"]:
                stop_reason = f"step {n}: {step['why']}"
                break
    finally:
        await fleet.close()
    return steps, stop_reason


async def measure(
    fleet: Fleet, n: int, seconds: float, broker_pid: int, subscriber: Subscriber
) -> dict[str, Any]:
    pids = {"agent_process": os.getpid(), "broker": broker_pid, "subscriber": subscriber.pid}
    lo, changes_lo = fleet.seqs(), fleet.changes()
    before = {name: sample(pid) for name, pid in pids.items()}
    t0 = time.monotonic()
    await asyncio.sleep(seconds - DETECT_SLACK_S)
    changes_sure = fleet.changes()  # changes the agents must have seen by the window's end
    await asyncio.sleep(DETECT_SLACK_S)
    hi, changes_hi = fleet.seqs(), fleet.changes()
    t1 = time.monotonic()
    after = {name: sample(pid) for name, pid in pids.items()}
    wall = t1 - t0
    ranges = {site: [lo[site], hi[site]] for site in lo}
    emitted = sum(hi[s] - lo[s] for s in lo)
    offered = sum(changes_hi[s] - changes_lo[s] for s in lo)
    # A site whose events fall short of the door changes it surely had time to see missed
    # a change: its boards were not polled in time.
    missed = sum(1 for s in lo if hi[s] - lo[s] < changes_sure[s] - changes_lo[s])
    got = await subscriber.drained(ranges, emitted)
    lost = emitted - got["received"]
    p99 = got.get("p99_ms")
    why = []
    if lost:
        why.append(f"{lost} events lost")
    if p99 is None or p99 > P99_BOUND_MS:
        why.append(f"p99 {p99} ms > {P99_BOUND_MS:.0f} ms")
    if missed:
        why.append(f"{missed} agents missed door changes (boards not polled in time)")
    if offered < MIN_OFFERED_RATIO * n * wall:
        why.append(f"doors changed only {offered / wall:.0f}/s of {n}/s (loop overloaded)")
    return {
        "agents": n,
        "holds": not why,
        "why": "; ".join(why) or None,
        "seconds": round(wall, 1),
        "offered_per_s": round(offered / wall, 1),
        "agents_missing_changes": missed,
        "emitted": emitted,
        "emitted_per_s": round(emitted / wall, 1),
        "received": got["received"],
        "received_per_s": round(got["received"] / wall, 1),
        "lost": lost,
        "p50_ms": got.get("p50_ms"),
        "p99_ms": p99,
        "max_ms": got.get("max_ms"),
        "loop_lag_p99_ms": fleet.lag_p99_ms(t0, t1),
        "outbox_pending_after": fleet.pending(),
        **{name: usage(before[name], after[name], wall) for name in pids},
    }


HEADER = (
    f"{'agents':>6} {'offer/s':>8} {'emit/s':>8} {'recv/s':>8} {'lost':>5} {'p50ms':>7} "
    f"{'p99ms':>7} {'lag99':>6} {'agt%':>5} {'agtMiB':>7} {'brk%':>5} {'brkMiB':>7} "
    f"{'sub%':>5} {'subMiB':>7}  holds"
)


def _row(s: dict[str, Any]) -> str:
    if "offered_per_s" not in s:
        return f"{s['agents']:>6} (not all connected: {s.get('connected')})"
    a, b, c = s["agent_process"], s["broker"], s["subscriber"]
    return (
        f"{s['agents']:>6} {s['offered_per_s']:>8} {s['emitted_per_s']:>8} "
        f"{s['received_per_s']:>8} {s['lost']:>5} {s['p50_ms']!s:>7} {s['p99_ms']!s:>7} "
        f"{s['loop_lag_p99_ms']!s:>6} {a['cpu_pct']:>5} "
        f"{a['rss_mib']:>7} {b['cpu_pct']:>5} {b['rss_mib']:>7} "
        f"{c['cpu_pct']:>5} {c['rss_mib']:>7}  {'yes' if s['holds'] else 'NO: ' + s['why']}"
    )


# ================================================================================= main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-agents", type=int, default=max(DEFAULT_STEPS))
    parser.add_argument("--step-seconds", type=float, default=DEFAULT_STEP_S)
    parser.add_argument(
        "--steps",
        type=lambda text: [int(x) for x in text.split(",")],
        default=DEFAULT_STEPS,
        help="comma-separated fleet sizes, ascending",
    )
    parser.add_argument("--budget-seconds", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--no-baseline", action="store_true")
    # Internal roles (the subscriber and the baseline publisher run as their own processes).
    parser.add_argument("--role", choices=["controller", "subscriber", "baseline"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--rate", type=int)
    parser.add_argument("--site", default=BASELINE_SITE)
    args = parser.parse_args()
    if args.role == "subscriber":
        return run_subscriber(args.port)
    if args.role == "baseline":
        return run_baseline(args.port, args.rate, BASELINE_S, args.site)
    args.steps = sorted(args.steps)
    if not 5 <= args.step_seconds <= 300 or args.steps[0] < 1:
        parser.error("--step-seconds 5-300, --steps positive")
    return controller(args)


def controller(args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + args.budget_seconds
    fd_limit = raise_fd_limit()  # before the broker starts, so it inherits the limit too
    scratch = tempfile.TemporaryDirectory(prefix="lockernet-fleet-")
    workdir = Path(scratch.name)
    broker = PrivateBroker(workdir / "broker")
    broker.start()
    # The launcher keeps its process private; its pid is what /proc needs.
    broker_pid = broker._process.pid if broker._process is not None else 0
    subscriber = Subscriber(broker.port)
    baselines: list[dict[str, Any]] = []
    try:
        print(HEADER, file=sys.stderr, flush=True)
        steps, stop_reason = asyncio.run(
            run_steps(
                args,
                broker=broker,
                broker_pid=broker_pid,
                subscriber=subscriber,
                workdir=workdir,
                fd_limit=fd_limit,
                deadline=deadline - (0 if args.no_baseline else BASELINE_RESERVE_S),
            )
        )
        # The baseline runs once the agents are gone, on the idle broker, at the rates of the
        # steps that ran (one site's worth of events per agent a second).
        if not args.no_baseline:
            for rate in [s["agents"] for s in steps]:
                baselines.append(baseline(broker.port, rate, subscriber))
    finally:
        subscriber.close()
        broker.stop()
        scratch.cleanup()
    held = [s["agents"] for s in steps if s.get("holds")]
    summary = {
        "benchmark": "fleet_capacity",
        "max_agents_held": max(held) if held else 0,
        "stopped_because": stop_reason,
        "p99_bound_ms": P99_BOUND_MS,
        "events_per_agent_per_s": 1,
        "boards_per_agent": BOARDS,
        "poll_interval_s": POLL_INTERVAL_S,
        "step_seconds": args.step_seconds,
        "cores": os.cpu_count(),
        "fd_limit": fd_limit,
        "steps": steps,
        "baseline_raw_paho": baselines,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print()
    print(f"{'rate/s':>7} {'lost':>5} {'p50ms':>7} {'p99ms':>7} {'pub%':>5}  (baseline, raw paho)")
    for b in baselines:
        print(
            f"{b['rate_per_s']:>7} {b['lost']:>5} {b['p50_ms']!s:>7} {b['p99_ms']!s:>7} "
            f"{b['publisher']['cpu_pct']:>5}"
        )
    print(HEADER)
    for s in steps:
        print(_row(s))
    print(f"max agents held: {summary['max_agents_held']} ({stop_reason})")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
