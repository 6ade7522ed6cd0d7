"""The whole network on one machine: a private broker, central, site agents on simulated
hardware, couriers and consumers, through a compressed day with faults, and a verdict.

The sites, their devices and the people run on one asyncio loop in this process; central
runs in its own process (hw_sim.network.central_process) and the broker in its own, as in
production. Time is a ScaledClock anchored once and shared by every process, so a day passes
in minutes. Most sites talk to their devices in memory; a few over real pseudo-terminals
through pyserial, as on a Pi.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from central.broker import PrivateBroker
from central.parcels.lifecycle import ParcelState
from central.parcels.manifest import ParcelAnnouncement, generate_manifest
from central.service.config import parse_config as parse_central_config
from central.sites.network import Network, NetworkSite, generate_network
from edge.agent import SiteAgent
from edge.config import parse_config as parse_site_config
from edge.drivers.links import ByteLink, Opener, serial_opener
from hw_sim.devices.compartment import Compartment
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.field_faults import field_promises_broken
from hw_sim.devices.memory_transport import MemoryPort
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.field.board_silence import silence_hours
from hw_sim.field.wall_clock import WrongClock
from hw_sim.network.central_process import CentralProcess, CentralSpec
from hw_sim.network.field_day import FieldFaults
from hw_sim.network.liveness_timing import central_sections, site_timing
from hw_sim.people.people import Pace
from protocols.clock import ScaledClock
from protocols.messages import SiteKind, SizeClass, SlotState
from protocols.tokens import CourierBadge, TokenSigner

log = logging.getLogger(__name__)

DAY_S = 86_400.0
HOUR_S = 3_600.0
SIZES = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]
LOCKS_PER_BOARD = 16
MAX_BOARDS = 10
# People, in simulated seconds: a courier handles a parcel in ~20 s, a consumer in ~15 s.
PEOPLE_PACE = Pace(handling_s=12.0, glance_s=2.0, patience_s=120.0)
# Agent timing, in REAL seconds: converted to simulated seconds by the compression, so a
# board is polled about once a real second whatever the speed of the day.
REAL_POLL_S = 1.0
LOCKERS_PER_POLL_SECOND = 200
REAL_REPLY_TIMEOUT_S = 0.5
# Each agent's timers (lapses, doors left open) tick every quarter of a real second, less
# often past a thousand sites: each tick wakes the loop, and 2,100 agents ticking at
# simulated-second pace under heavy compression left it no time for anything else.
REAL_TIMER_S = 0.25
SITES_PER_TIMER_SECOND = 1000
REAL_REPUBLISH_S = 10.0
# The shape of the day, in simulated hours.
WAVE_HOURS = (0.0, 3.0, 6.0, 9.0)
ROUND_HOURS = tuple(float(h) for h in range(6, 22, 2))  # courier rounds at every site
REMOVAL_HOURS = (20.0, 23.0)
PICKUP_WINDOW_H = 10.0  # a compressed stand-in for the regional three days
# Real seconds a person watches the screen for an answer. Long: on a loaded machine the
# answer comes late but comes; only a scan that never reached the agent goes unanswered.
SCREEN_TIMEOUT_S = 60.0
SCREEN_GLANCE_S = 1.0  # real seconds between looks at a screen that has not answered yet
WALK_AWAY_SHARE = 0.01  # consumers who leave the door open


@dataclass(frozen=True)
class SimOptions:
    lockers: int = 50
    counters: int = 160
    couriers: int = 60
    parcels: int = 4000
    seed: int = 1
    day_s: float = DAY_S
    wall_s: float = 120.0  # how long the day takes in real time
    pty_sites: int = 2
    faults: bool = True

    @property
    def compression(self) -> float:
        return self.day_s / self.wall_s

    @property
    def real_poll_s(self) -> float:
        # One event loop polls every board of every locker: past ~200 lockers, poll each a
        # little less often (in real time) so the loop keeps up; doors still close in seconds.
        return max(REAL_POLL_S, self.lockers / LOCKERS_PER_POLL_SECOND)

    @property
    def real_timer_s(self) -> float:
        return max(REAL_TIMER_S, (self.lockers + self.counters) / SITES_PER_TIMER_SECOND)


@dataclass
class Tally:
    """What the world saw happen, for the verdict and the report."""

    deposited: set[str] = field(default_factory=set)
    picked_up: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    taken_twice: int = 0
    gave_up: int = 0  # people who left without an answer (most at an unplugged scanner)
    unanswered: list[str] = field(default_factory=list)  # ...of those, at a working scanner
    doors_left_open: int = 0
    codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # label->(site,text,at)
    deposit_to_pickup_h: list[float] = field(default_factory=list)
    occupancy: list[tuple[float, int, int]] = field(default_factory=list)  # (hour, used, total)
    events_per_s: list[tuple[float, float]] = field(default_factory=list)  # (hour, rate)
    faults: list[str] = field(default_factory=list)
    deposited_at: dict[str, float] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)  # invariant breaks the people saw
    placed: dict[str, str] = field(default_factory=dict)  # label -> where a courier put it


@dataclass
class SimSite:
    spec: NetworkSite
    agent: SiteAgent
    sim: SimulatedSite
    wall: WrongClock  # the agent's wall clock, which a field fault can set wrong
    rebuild: Callable[[], SiteAgent]  # a new agent on the same config, store file and ports
    over_pty: bool = False  # its devices are on real pseudo-terminals, as on a Pi
    # Its agent is down and being replaced (a field fault): its store is closed, so the
    # rounds and the live view leave it alone until it is back.
    rebooting: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one person at the site at a time
    visiting: set[str] = field(default_factory=set)  # "courier", "returns": who is on the way
    # Event ids of stores this site has lost (field faults): still owed to central.
    retired_ids: set[str] = field(default_factory=set)

    retired_payloads: list[dict[str, Any]] = field(default_factory=list)

    def written_ids(self) -> set[str]:
        """Every event id this site has written, in its store now and in stores it lost."""
        return self.retired_ids | set(_event_ids(self.agent))

    def payloads(self) -> list[dict[str, Any]]:
        """Every event payload this site has written, lost stores included."""
        return self.retired_payloads + _payloads(self.agent)

    def retire_store(self) -> None:
        """The store is about to be lost: keep what it wrote for the verdict."""
        self.retired_ids |= set(_event_ids(self.agent))
        self.retired_payloads.extend(_payloads(self.agent))


class Fleet:
    """Builds the world, runs the day, and collects what happened."""

    def __init__(self, options: SimOptions, workdir: Path, progress: Callable[[str], None]) -> None:
        self.options = options
        self.workdir = workdir
        self.progress = progress
        self.clock = ScaledClock(options.compression)
        self.rng = random.Random(options.seed)  # noqa: S311 - a seeded model, not a secret
        self.signer = TokenSigner.generate()
        self.tally = Tally()
        self.sites: dict[str, SimSite] = {}
        self.broker = PrivateBroker(workdir / "broker")
        self.network: Network = generate_network(
            options.seed,
            lockers=options.lockers,
            counters=options.counters,
            couriers=options.couriers,
        )
        self.central: CentralProcess | None = None
        self.store_path = workdir / "central.sqlite"
        self.settled: dict[str, set[str]] | None = None  # each site's event ids, all at central
        self._pickups: list[asyncio.Task[None]] = []
        self._started = time.perf_counter()
        self.day_start = self.clock.now()

    # ------------------------------------------------------------------------ building
    def _central_config(self) -> dict[str, Any]:
        compression = self.options.compression
        config: dict[str, Any] = {
            "broker": {
                "host": self.broker.host,
                "port": self.broker.port,
                "client_id": "sim-central",
            },
            "store": {"path": str(self.store_path)},
            "keys": {"signing_key": str(self.workdir / "central-signing-key.pem")},
            "pickup": {
                "window_s": PICKUP_WINDOW_H * HOUR_S,
                "reminder_before_s": 2 * HOUR_S,
                "notify_folder": str(self.workdir / "notifications"),
            },
            # A gap (events the broker took but never delivered, as across a restart
            # that lost central's shared subscription) is asked for again after ~3 s.
            "ingest": {"gap_timeout_s": 3 * compression},
            "commands": {"expiry_s": int(max(3600, 120 * compression))},
            "service": {"tick_interval_s": 0.5, "status_interval_s": 60.0},
        }
        config.update(central_sections(compression))
        parse_central_config(config)  # a bad configuration fails here, not in the child
        return config

    def _site_config(self, spec: NetworkSite, ports: tuple[str, str]) -> dict[str, Any]:
        c = self.options.compression
        base: dict[str, Any] = {
            "site_id": spec.id,
            "kind": spec.kind.value,
            "state_dir": str(self.workdir / "sites"),
            "central_public_key": str(self.workdir / "central.pub"),
            "broker": {"host": self.broker.host, "port": self.broker.port},
            "scanner": {"port": ports[1]},
            "timing": {
                "republish_after_s": REAL_REPUBLISH_S * c,
                "reconnect_min_s": 0.5 * c,
                "reconnect_max_s": 5.0 * c,
                "door_left_open_s": 10 * 60.0,
                "courier_session_s": HOUR_S,
                "timer_interval_s": min(3600.0, self.options.real_timer_s * c),
                **site_timing(c),
            },
        }
        if spec.kind is SiteKind.COUNTER:
            base["shelf_capacity"] = spec.shelf_capacity
            return base
        slots = []
        index = 0
        for size in SIZES:
            for _ in range(spec.compartments.get(size, 0)):
                board, lock = divmod(index, LOCKS_PER_BOARD)
                slots.append(
                    {
                        "id": f"{chr(65 + board)}{lock + 1:02d}",
                        "board": board,
                        "lock": lock + 1,
                        "size": size.value,
                    }
                )
                index += 1
        base["lock_bus"] = {
            "port": ports[0],
            "boards": list(range(self._boards(spec))),
            "poll_interval_s": self.options.real_poll_s * c,
            "reply_timeout_s": REAL_REPLY_TIMEOUT_S * c,
        }
        base["slots"] = slots
        return base

    @staticmethod
    def _boards(spec: NetworkSite) -> int:
        total = sum(spec.compartments.values())
        return max(1, min(MAX_BOARDS, -(-total // LOCKS_PER_BOARD)))

    async def build(self) -> None:
        self.broker.start()
        (self.workdir / "central-signing-key.pem").write_bytes(self.signer.private_pem())
        (self.workdir / "central.pub").write_bytes(self.signer.verifier().public_pem())
        # Lockers beyond what fits on ten boards are trimmed to ten boards' worth.
        sites = [
            _trim(spec, MAX_BOARDS * LOCKS_PER_BOARD) if spec.kind is SiteKind.LOCKER else spec
            for spec in self.network.sites
        ]
        self.network = Network(
            sites=sites, partners=self.network.partners, couriers=self.network.couriers
        )
        self.central = CentralProcess(
            CentralSpec(
                config=self._central_config(),
                network=self.network,
                signing_key_pem=self.signer.private_pem(),
                clock_anchor=self.clock.anchor,
            ),
            on_code=self._code_issued,
            progress=self.progress,
        )
        await asyncio.to_thread(self.central.start)
        pty_left = self.options.pty_sites
        for spec in self.network.sites:
            boards = self._boards(spec) if spec.kind is SiteKind.LOCKER else 1
            sim = SimulatedSite(
                self.clock, SimConfig(boards=boards, seed=self.rng.randrange(1 << 30))
            )
            over_pty = spec.kind is SiteKind.LOCKER and pty_left > 0
            if over_pty:
                pty_left -= 1
                folder = self.workdir / "pty" / spec.id
                folder.mkdir(parents=True)
                sim.serve_pty(folder)
                bus_port, scan_port = str(folder / "locks"), str(folder / "scanner")
                config = parse_site_config(self._site_config(spec, (bus_port, scan_port)))
                assert config.lock_bus is not None and config.scanner is not None
                lock_opener: Opener | None = serial_opener(bus_port, config.lock_bus.baud_rate)
                scan_opener: Opener = serial_opener(scan_port, config.scanner.baud)
            else:
                locks, scanner = sim.serve_memory()
                config = parse_site_config(self._site_config(spec, ("memory", "memory")))
                lock_opener = _memory(locks) if spec.kind is SiteKind.LOCKER else None
                scan_opener = _memory(scanner)
            wall = WrongClock(self.clock)
            rebuild = partial(
                SiteAgent,
                config,
                clock=wall,
                verifier=self.signer.verifier(),
                lock_opener=lock_opener,
                scanner_opener=scan_opener,
                durable=False,
            )
            agent = rebuild()
            await agent.start()
            self.sites[spec.id] = SimSite(spec, agent, sim, wall, rebuild, over_pty=over_pty)
        await self._until(lambda: all(s.agent.link.connected for s in self.sites.values()), 60)

    # ------------------------------------------------------------------------- the day
    async def run_day(self) -> None:
        assert self.central is not None
        manifest = generate_manifest(
            self.network, self.options.parcels, self.options.seed, self.day_start
        )
        waves = _split(manifest, len(WAVE_HOURS))
        plan: list[tuple[float, str, Any]] = []
        for hour, wave in zip(WAVE_HOURS, waves, strict=True):
            plan.append((hour, "wave", wave))
        for hour in ROUND_HOURS:
            plan.append((hour + 0.5, "round", None))
        for hour in REMOVAL_HOURS:
            plan.append((hour, "removals", None))
        if self.options.faults:
            plan.extend(self._fault_plan())
            plan.extend(FieldFaults(self).plan())
        plan.sort(key=lambda item: item[0])
        sampler = asyncio.ensure_future(self._sample())
        try:
            for hour, kind, payload in plan:
                await self._until_hour(hour)
                if kind == "wave":
                    # Central places it in the background; the day's couriers do not wait.
                    self.central.announce(payload)
                elif kind == "round":
                    self._courier_round()
                elif kind == "removals":
                    self._removal_round()
                else:
                    await payload()
            await self._until_hour(self.options.day_s / HOUR_S - 0.01)
            for task in self._pickups:
                task.cancel()
            outcomes = await asyncio.gather(*self._pickups, return_exceptions=True)
            # A person's visit that crashed is a broken day, not a quiet shortfall.
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(
                    outcome, asyncio.CancelledError
                ):
                    self.tally.broken.append(f"a visit failed: {outcome!r}")
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    def hour(self) -> float:
        return (self.clock.now() - self.day_start) / HOUR_S

    async def _until_hour(self, hour: float) -> None:
        delay = hour * HOUR_S - (self.clock.now() - self.day_start)
        if delay > 0:
            await self.clock.sleep(delay)

    def _badge(self, courier: str) -> str:
        now = int(self.clock.now())
        return self.signer.courier_badge(
            CourierBadge(courier, "sim-post", now - 60, now + int(DAY_S), os.urandom(8))
        )

    def _courier_round(self) -> None:
        """Every site with parcels expected gets a courier, carrying exactly those, unless
        the last round's courier is still there. Rounds do not hold up the day: on a
        loaded machine a round can outlast two simulated hours, and the day's waves, faults
        and consumers go on meanwhile."""
        for site in self.sites.values():
            if "courier" in site.visiting or site.rebooting:
                continue
            expected = _expected(site.agent)
            if expected:
                site.visiting.add("courier")
                self._pickups.append(asyncio.ensure_future(self._deliver(site, expected)))

    async def _scan(self, site: SimSite, code: str) -> Compartment | None:
        """Scan, then read the locker's screen until it shows this scan dealt with: the
        door it names, if that door stands open. Reading the door off the screen, rather
        than taking whichever door swung open, keeps a person from taking a slow locker's
        late door (opened for someone who gave up waiting) for their own, however loaded
        the machine and however hard the day is compressed."""
        agent = site.agent
        ports = site.sim.ports
        if ports is not None and not ports.scanner.plugged:
            self.tally.gave_up += 1  # a dead scanner: no light, no beep; the person leaves
            return None
        before = agent.scans_handled
        site.sim.scan(code, None)
        deadline = time.monotonic() + SCREEN_TIMEOUT_S
        while (line := agent.screen_answer(code, after=before)) is None:
            if site.agent is not agent:
                return None  # the screen went dark: the agent restarted (a field fault)
            remaining = deadline - time.monotonic()
            handled = agent.scans_handled
            if remaining <= 0 or (
                not await agent.wait_scans_handled(handled, min(remaining, SCREEN_GLANCE_S))
                and time.monotonic() >= deadline
            ):
                # A plugged-in scanner whose scan got no answer in a minute: listed, since
                # a hung scan task at the agent would look exactly like this.
                self.tally.gave_up += 1
                self.tally.unanswered.append(f"{self.hour():05.2f}h {site.spec.id}")
                return None
        if line.slot is None:
            return None
        config = agent.slots[line.slot]
        door = site.sim.compartment(config.board, config.lock)
        return door if door.door_open() else None

    async def _deliver(self, site: SimSite, labels: list[str]) -> None:
        try:
            await self._deliver_all(site, labels)
        finally:
            site.visiting.discard("courier")

    async def _deliver_all(self, site: SimSite, labels: list[str]) -> None:
        async with site.lock:
            await self._scan(site, self._badge(f"courier-{site.spec.id}"))
            for label in labels:
                if site.agent.store.read().expected(label) is None:
                    continue  # the list was made before the last door shut: already in
                if label in self.tally.placed:
                    # The courier no longer has it: it went into a door on an earlier round.
                    # Fine while the site has not yet seen that door shut (its next poll may be
                    # many simulated minutes away); otherwise the site lost track of a deposit.
                    if not _awaiting_close(site.agent, label):
                        holding = site.agent.store.read().slot_holding(label)
                        self.tally.broken.append(
                            f"{site.spec.id}: {label} expected again after it went into "
                            f"{self.tally.placed[label]} (site: {holding})"
                        )
                    continue
                door = await self._scan(site, label)
                await self.clock.sleep(PEOPLE_PACE.handling_s)
                if door is not None:
                    door.place(label)
                    self.tally.placed[label] = f"{site.spec.id}/{door.board}/{door.slot}"
                    door.close_door()

    def _code_issued(self, parcel: str, site: str, text: str) -> None:
        # Called on the thread reading central's replies: the consumer is scheduled on the
        # simulation's loop.
        self._loop.call_soon_threadsafe(self._schedule_pickup, parcel, site, text)

    def _schedule_pickup(self, parcel: str, site: str, text: str) -> None:
        if site not in self.sites:
            return
        self.tally.codes[parcel] = (site, text, self.clock.now())
        roll = self.rng.random()
        if roll < 0.08:
            return  # never comes: the parcel expires and is removed
        delay_h = self.rng.uniform(0.3, 6.0) if roll < 0.85 else self.rng.uniform(6.0, 14.0)
        self._pickups.append(
            asyncio.ensure_future(self._pick_up(self.sites[site], parcel, text, delay_h))
        )

    async def _pick_up(self, site: SimSite, parcel: str, code: str, delay_h: float) -> None:
        await self.clock.sleep(delay_h * HOUR_S)
        async with site.lock:
            door = await self._scan(site, code)
            if site.spec.kind is SiteKind.COUNTER or door is None:
                return
            await self.clock.sleep(PEOPLE_PACE.handling_s)
            taken = door.take()
            if len(taken) > 1 or (taken and taken != [parcel]):
                self.tally.taken_twice += 1
            if self.options.faults and self.rng.random() < WALK_AWAY_SHARE:
                self.tally.doors_left_open += 1
                await self.clock.sleep(15 * 60)  # a passer-by shuts it a quarter-hour later
            door.close_door()

    def _removal_round(self) -> None:
        for site in self.sites.values():
            if "returns" in site.visiting or site.rebooting:
                continue
            with site.agent.store.transaction() as tx:
                marked = tx.removals()
            if marked:
                site.visiting.add("returns")
                self._pickups.append(asyncio.ensure_future(self._remove(site, marked)))

    async def _remove(self, site: SimSite, labels: list[str]) -> None:
        try:
            await self._remove_all(site, labels)
        finally:
            site.visiting.discard("returns")

    async def _remove_all(self, site: SimSite, labels: list[str]) -> None:
        async with site.lock:
            await self._scan(site, self._badge(f"returns-{site.spec.id}"))
            for label in labels:
                door = await self._scan(site, label)
                if door is not None:
                    await self.clock.sleep(PEOPLE_PACE.handling_s)
                    if label in door.contents:
                        door.take(label)
                    else:
                        self.tally.broken.append(
                            f"{site.spec.id}: {label} not behind door {door.board}/{door.slot}"
                        )
                    door.close_door()

    # ---------------------------------------------------------------------------- faults
    def _fault_plan(self) -> list[tuple[float, str, Any]]:
        lockers = [s for s in self.sites.values() if s.spec.kind is SiteKind.LOCKER]
        plan: list[tuple[float, str, Any]] = []
        if not lockers:
            return plan
        pick = self.rng.choice

        board_site = pick(lockers)
        plan.append((7.2, "fault", lambda: self._board_silent(board_site, 0.75)))
        scanner_site = pick(lockers)
        plan.append((9.4, "fault", lambda: self._scanner_unplugged(scanner_site, 0.5)))
        offline_site = pick(lockers)
        plan.append((11.0, "fault", lambda: self._site_offline(offline_site, 1.0)))
        plan.append((15.5, "fault", self._broker_restart))
        return plan

    async def _board_silent(self, site: SimSite, hours: float) -> None:
        # Held at least twice as long as the agent needs to call the board down under the
        # day's compression (hw_sim/field/board_silence.py), or a compressed silence goes unseen.
        held = silence_hours(site.agent.config.lock_bus, hours)
        self.tally.faults.append(
            f"{self.hour():05.2f}h {site.spec.id} board 0 stops answering ({held * 60:.0f} min)"
        )
        site.sim.set_fault(FaultKind.NO_REPLY, True, board=0)
        self.later(held, lambda: site.sim.set_fault(FaultKind.NO_REPLY, False, board=0))

    async def _scanner_unplugged(self, site: SimSite, hours: float) -> None:
        self.tally.faults.append(f"{self.hour():05.2f}h {site.spec.id} scanner unplugged")
        site.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, True)
        self.later(hours, lambda: site.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, False))

    async def _site_offline(self, site: SimSite, hours: float) -> None:
        self.tally.faults.append(f"{self.hour():05.2f}h {site.spec.id} offline for an hour")
        site.agent.link.take_down()
        self.later(hours, site.agent.link.bring_up)

    async def _broker_restart(self) -> None:
        self.tally.faults.append(f"{self.hour():05.2f}h broker restart")
        await asyncio.to_thread(self.broker.restart)

    def later(self, hours: float, action: Callable[[], None]) -> None:
        """Do `action` `hours` simulated hours from now, without holding up the day."""

        async def run() -> None:
            await self.clock.sleep(hours * HOUR_S)
            action()

        self.background(run())

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` beside the day; it is cancelled at the day's end, and a crash in it
        breaks the verdict."""
        self._pickups.append(asyncio.ensure_future(work))

    def start_central_member(self, client_id: str, session_expiry_s: int) -> CentralProcess:
        """Another central process on the day's broker, store and shared subscription, on
        the day's clock, with its own broker client id and session expiry. Started."""
        config = self._central_config()
        config["broker"] = {
            **config["broker"],
            "client_id": client_id,
            "session_expiry_s": session_expiry_s,
        }
        member = CentralProcess(
            CentralSpec(
                config=config,
                network=self.network,
                signing_key_pem=self.signer.private_pem(),
                clock_anchor=self.clock.anchor,
            ),
            on_code=self._code_issued,
            progress=self.progress,
        )
        member.start()
        return member

    # ---------------------------------------------------------------------- watching
    async def _sample(self) -> None:
        last_events, last_at = 0, time.perf_counter()
        while True:
            await self.clock.sleep(10 * 60)
            used = total = 0
            up = [site for site in self.sites.values() if not site.rebooting]
            for site in up:
                if site.spec.kind is SiteKind.LOCKER:
                    for record in site.agent.store.read().slots():
                        total += 1
                        used += record.state is SlotState.OCCUPIED
            self.tally.occupancy.append((self.hour(), used, total))
            events = sum(s.agent.store.last_seq() for s in up)
            now = time.perf_counter()
            rate = (events - last_events) / max(1e-6, now - last_at)
            self.tally.events_per_s.append((self.hour(), rate))
            last_events, last_at = events, now
            online = sum(s.agent.link.connected for s in self.sites.values())
            if len(self.tally.occupancy) % 6:
                continue  # the live view: once a simulated hour
            states, alarms = await asyncio.to_thread(self._central_view)
            parcels = ", ".join(f"{state} {n}" for state, n in states.items())
            open_alarms = ", ".join(f"{kind} {n}" for kind, n in alarms.items())
            self.progress(
                f"sim {self.hour():05.2f}h | events {events} ({rate:,.0f}/s) | sites online "
                f"{online}/{len(self.sites)} | occupied {used}/{total} | open alarms: "
                f"{open_alarms or 'none'} | parcels: {parcels or 'none yet'}"
            )

    def _central_view(self) -> tuple[dict[str, int], dict[str, int]]:
        """What the operator sees at central: parcels by state, and alarms still open."""
        db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        try:
            states = dict(db.execute("SELECT state, COUNT(*) FROM parcels GROUP BY state"))
            alarms = dict(
                db.execute(
                    "SELECT kind, COUNT(*) FROM alarms WHERE cleared_at IS NULL GROUP BY kind"
                )
            )
        except sqlite3.Error:
            return {}, {}  # central busy past the timeout: the next hour's view shows it
        finally:
            db.close()
        order = {state.value: i for i, state in enumerate(ParcelState)}  # the lifecycle's order
        ordered = sorted(states.items(), key=lambda item: order.get(str(item[0]), len(order)))
        return {str(k): int(v) for k, v in ordered}, {str(k): int(v) for k, v in alarms.items()}

    async def _until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # ------------------------------------------------------------------------- the end
    async def settle(self, timeout_s: float = 90.0) -> None:
        """Let the last events reach central before counting. Nothing is nudged: a site
        whose newest events central lacks is found by central itself (each heartbeat carries
        the site's newest seq, and central asks for a resend), so an event the broker took
        and never delivered must come back on its own, or the verdict fails."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._behind():
                return
            await asyncio.sleep(3.0)
        self.progress(f"settle: {len(self._behind())} site(s) still behind at central")

    def _behind(self) -> list[str]:
        # The sites' counts first: an event written after them cannot make a site look
        # caught up. When none is behind, these counts are what the verdict checks: the
        # agents keep running (polls, timers) and an event written after this moment is in
        # flight when central stops, not lost.
        # Counted by event id, not by seq: a site whose store was lost or rolled back (field
        # faults) numbers seqs again, and central must hold every id all the same.
        written = {site_id: site.written_ids() for site_id, site in self.sites.items()}
        have = self._central_ids()
        behind = [site_id for site_id, ids in written.items() if not ids <= have[site_id]]
        if not behind:
            self.settled = written
        return behind

    async def close(self) -> None:
        try:
            for site in self.sites.values():
                with contextlib.suppress(Exception):
                    await site.agent.stop()
                await site.sim.aclose()
            await self.stop_central()
        finally:
            self.broker.stop()

    async def stop_central(self) -> None:
        """Central commits what it received and reports its own peak memory."""
        if self.central is not None:
            await asyncio.to_thread(self.central.stop)

    def summary(self) -> dict[str, Any]:
        written = {site_id: site.written_ids() for site_id, site in self.sites.items()}
        counted = self.settled or written
        sent = sum(len(ids) for ids in counted.values())
        have = self._central_ids()
        received = sum(len(ids & have[site_id]) for site_id, ids in counted.items())
        central_counts, duplicate_effects = self._central_counts()
        agent_events = self._agent_events()
        deposited = agent_events["parcel_deposited"]
        picked = agent_events["parcel_picked_up"]
        latencies = [ms for s in self.sites.values() for ms in s.agent.scan_latencies_ms]
        broken = self._invariants()
        if central_counts["stuck_before_a_site"]:
            broken.append(
                f"{central_counts['stuck_before_a_site']} parcel(s) placed at a site never "
                "reached it (still assigned at the day's end)"
            )
        lost = sent - received
        if self.central is not None and self.central.failure is not None:
            broken.append(f"central failed: {self.central.failure.strip().splitlines()[-1]}")
        clean = lost == 0 and duplicate_effects == 0 and not broken and self.tally.taken_twice == 0
        return {
            "verdict": "clean" if clean else "failed",
            "sites": len(self.sites),
            "lockers": sum(s.spec.kind is SiteKind.LOCKER for s in self.sites.values()),
            "collection_points": sum(s.spec.kind is SiteKind.COUNTER for s in self.sites.values()),
            "parcels": self.options.parcels,
            "deposited": deposited,
            "picked_up": picked,
            "expired": central_counts.get("expired", 0) + central_counts.get("removed", 0),
            "removed": agent_events["parcel_removed"],
            "home_delivery": central_counts.get("home", 0),
            "events_sent": sent,
            "events_received": received,
            "events_lost": lost,
            "events_in_flight_at_end": sum(
                len(ids - counted.get(site_id, set())) for site_id, ids in written.items()
            ),
            "duplicate_effects": duplicate_effects + self.tally.taken_twice,
            "invariants_broken": broken,
            "scan_to_unlock_p50_ms": _round(statistics.median(latencies)) if latencies else None,
            "scan_to_unlock_p99_ms": _round(_percentile(latencies, 99)) if latencies else None,
            "sim_seconds": round(self.hour() * HOUR_S),
            "wall_seconds": round(time.perf_counter() - self._started, 1),
            "speedup": round(self.options.compression, 1),
            "peak_rss_mib": self._peak_memory(),
            "faults": self.tally.faults,
            "doors_left_open": self.tally.doors_left_open,
            "people_who_gave_up_waiting": self.tally.gave_up,
            "scans_unanswered_at_working_scanners": self.tally.unanswered,
            "parcel_states_at_central": central_counts,
            "alarms_at_central": self._alarms(),
        }

    def _alarms(self) -> dict[str, dict[str, int]]:
        """Alarms central raised through the day, by kind: how many, and how many are open."""
        db = sqlite3.connect(self.store_path)
        try:
            rows = db.execute(
                "SELECT kind, COUNT(*), SUM(cleared_at IS NULL) FROM alarms GROUP BY kind"
            ).fetchall()
        finally:
            db.close()
        return {str(kind): {"raised": int(n), "open": int(open_)} for kind, n, open_ in rows}

    def _peak_memory(self) -> dict[str, float | None]:
        """Each process's peak resident memory, MiB (the broker's since its last restart)."""
        sites = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        central = self.central.peak_rss_mib if self.central is not None else None
        broker = _vm_hwm_mib(self.broker.pid) if self.broker.pid is not None else None
        total = sum(v for v in (sites, central, broker) if v is not None)
        return {
            "sites_and_people": round(sites, 1),
            "central": central,
            "broker": broker,
            "total": round(total, 1),
        }

    def central_has_all(self, site: SimSite) -> bool:
        """Whether central has stored every event `site` has written."""
        db = sqlite3.connect(self.store_path)
        try:
            rows = db.execute("SELECT event_id FROM events WHERE site = ?", (site.spec.id,))
            have = {str(r[0]) for r in rows}
        finally:
            db.close()
        return site.written_ids() <= have

    def _central_ids(self) -> defaultdict[str, set[str]]:
        """The id of every event central has stored, by site."""
        have: defaultdict[str, set[str]] = defaultdict(set)
        db = sqlite3.connect(self.store_path)
        try:
            for site, event_id in db.execute("SELECT site, event_id FROM events"):
                have[site].add(event_id)
        finally:
            db.close()
        return have

    def _central_counts(self) -> tuple[dict[str, int], int]:
        db = sqlite3.connect(self.store_path)
        try:
            states = dict(db.execute("SELECT state, COUNT(*) FROM parcels GROUP BY state"))
            home = (
                db.execute("SELECT COUNT(*) FROM parcels WHERE delivery_mode = 'home'").fetchone()[
                    0
                ]
                if _has_column(db, "parcels", "delivery_mode")
                else 0
            )
            # Placed at a locker or a collection point and still not there at the day's end
            # (the last courier round is at 20:30): a hollow day, whatever the events say.
            # Home deliveries have no round in the simulator yet.
            stuck = (
                db.execute(
                    "SELECT COUNT(*) FROM parcels WHERE state = 'assigned'"
                    " AND delivery_mode != 'home'"
                ).fetchone()[0]
                if _has_column(db, "parcels", "delivery_mode")
                else 0
            )
            self.tally.deposit_to_pickup_h = [
                (picked - deposited) / HOUR_S
                for deposited, picked in db.execute(
                    "SELECT d.at, p.at FROM parcel_steps d JOIN parcel_steps p"
                    " ON p.label = d.label AND p.step = 'pick_up' WHERE d.step = 'deposit'"
                )
            ]
            # An effect counted twice: a parcel collected (or deposited) twice at central.
            duplicates = db.execute(
                "SELECT COUNT(*) FROM (SELECT label, step, COUNT(*) AS n FROM parcel_steps"
                " WHERE step IN ('deposit', 'pick_up', 'remove') GROUP BY label, step"
                " HAVING n > 1)"
            ).fetchone()[0]
        finally:
            db.close()
        counts = {str(k): int(v) for k, v in states.items()}
        counts["home"] = int(home)
        counts["stuck_before_a_site"] = int(stuck)
        return counts, int(duplicates)

    def _agent_events(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for site in self.sites.values():
            for payload in site.payloads():
                counts[payload["type"]] += 1
        return counts

    def _invariants(self) -> list[str]:
        """A parcel in two places, or a door that opened with no reason on record."""
        problems: list[str] = list(self.tally.broken)
        where: dict[str, str] = {}
        for site in self.sites.values():
            # The people of the day are all honest: the field's promises (no lockout, a
            # scanner fault for garbage, an echo known) hold at every site.
            problems.extend(field_promises_broken(site.spec.id, site.agent, site.sim))
            for compartment in site.sim.compartments():
                for parcel in compartment.contents:
                    place = f"{site.spec.id}/{compartment.board}/{compartment.slot}"
                    if parcel in where:
                        problems.append(f"{parcel} in {where[parcel]} and {place}")
                    where[parcel] = place
            if site.spec.kind is not SiteKind.LOCKER:
                continue
            reasons: Counter[str] = Counter()
            for payload in site.payloads():
                if payload["type"] in ("door_opened", "door_forced"):
                    reasons[payload["slot"]] += 1
            records = {r.id: r for r in site.agent.store.read().slots()}
            for config in site.agent.config.slots:
                compartment = site.sim.compartment(config.board, config.lock)
                record = records[config.id]
                if (
                    record.state is SlotState.OCCUPIED
                    and record.parcel is not None
                    and record.parcel not in compartment.contents
                ):
                    problems.append(
                        f"{site.spec.id} {config.id}: the site says {record.parcel} is inside, "
                        f"the compartment holds {list(compartment.contents)}"
                    )
                # A door can open at most once per recorded reason (a door that was released
                # but stayed shut opens less).
                if compartment.openings > reasons[config.id]:
                    problems.append(
                        f"{site.spec.id} {config.id} opened {compartment.openings}x with "
                        f"{reasons[config.id]} reasons on record"
                    )
        return problems

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop() if _in_loop() else self._main_loop

    def remember_loop(self) -> None:
        self._main_loop = asyncio.get_running_loop()


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _vm_hwm_mib(pid: int) -> float | None:
    """A process's peak resident set (Linux's VmHWM), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def _awaiting_close(agent: SiteAgent, label: str) -> bool:
    return any(
        record.state is SlotState.OPEN_FOR_DEPOSIT and record.open_ref == label
        for record in agent.store.read().slots()
    )


def _event_ids(agent: SiteAgent) -> list[str]:
    rows = agent.store._db.execute("SELECT json_extract(CAST(message AS TEXT), '$.id') FROM outbox")
    return [str(r[0]) for r in rows]


def _payloads(agent: SiteAgent) -> list[dict[str, Any]]:
    rows = agent.store._db.execute("SELECT message FROM outbox")
    return [json.loads(r[0])["payload"] for r in rows]


def _expected(agent: SiteAgent) -> list[str]:
    rows = agent.store._db.execute("SELECT parcel FROM expected ORDER BY parcel")
    return [r[0] for r in rows]


def _trim(spec: NetworkSite, limit: int) -> NetworkSite:
    if sum(spec.compartments.values()) <= limit:
        return spec
    remaining = limit
    trimmed: dict[SizeClass, int] = {}
    for size in SIZES:
        take = min(spec.compartments.get(size, 0), remaining)
        trimmed[size] = take
        remaining -= take
    return spec.model_copy(update={"compartments": trimmed})


def _split(items: list[ParcelAnnouncement], parts: int) -> list[list[ParcelAnnouncement]]:
    size = -(-len(items) // parts) if items else 0
    return [items[i * size : (i + 1) * size] for i in range(parts)]


def _memory(port: MemoryPort) -> Opener:
    async def open_port() -> ByteLink:
        return port.open()

    return open_port


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


def _round(value: float) -> float:
    return round(value, 2)


async def simulate(
    options: SimOptions, progress: Callable[[str], None], workdir: Path | None = None
) -> dict[str, Any]:
    """Run one simulated day; returns the summary (with the tally for charts)."""
    scratch = None
    if workdir is None:
        scratch = tempfile.TemporaryDirectory(prefix="lockernet-sim-")
        workdir = Path(scratch.name)
    fleet = Fleet(options, workdir, progress)
    fleet.remember_loop()
    try:
        progress(
            f"building: {options.lockers} lockers, {options.counters} collection points, "
            f"{options.parcels} parcels, day x{options.compression:.0f}"
        )
        await fleet.build()
        fleet.day_start = fleet.clock.now()
        progress(f"{len(fleet.sites)} sites online; the day begins")
        await fleet.run_day()
        await fleet.settle(timeout_s=max(90.0, len(fleet.sites) / 10))
        await fleet.stop_central()
        summary = fleet.summary()
        summary["_tally"] = fleet.tally
        return summary
    finally:
        await fleet.close()
        if scratch is not None:
            scratch.cleanup()
