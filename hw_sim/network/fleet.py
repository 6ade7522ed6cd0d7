"""The whole network on one machine: a private broker, central, site agents on simulated
hardware, couriers and consumers, through a compressed day with faults, and a verdict.

The sites, their devices and the people run on one asyncio loop in this process; central
runs in its own process (hw_sim.network.central_process) and the broker in its own, as in
production. Time is a ScaledClock anchored once and shared by every process, so a day passes
in minutes. Most sites talk to their devices in memory; a few over real pseudo-terminals
through pyserial, as on a Pi.

The day's parts, each in its own module beside this one: the options and the day's shape
(options.py), the configurations and the starting of sites (site_setup.py), the people
(people_day.py), the day's device faults (day_faults.py) and the field's (field_day.py), the
live view (live_view.py), what central holds (central_records.py), the verdict
(verdict.py) and the operator console served on the day (console.py). `Fleet` holds the
world they share and runs the day's plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from rich.console import Console

from central.broker import PrivateBroker
from central.parcels.manifest import ParcelAnnouncement, generate_manifest
from central.sites.network import Network, generate_network
from hw_sim.network import verdict
from hw_sim.network.central_process import CentralProcess, CentralSpec
from hw_sim.network.central_records import CentralRecords
from hw_sim.network.console import SimConsole
from hw_sim.network.day_faults import DayFaults
from hw_sim.network.day_store import DayStore
from hw_sim.network.field_day import FieldFaults, member_session_s
from hw_sim.network.home_round import HOME_ROUND_HOURS, HomeRounds
from hw_sim.network.live_view import LiveView, watch
from hw_sim.network.loop_lag import LoopLag
from hw_sim.network.options import (
    HOUR_S,
    LOCKS_PER_BOARD,
    MAX_BOARDS,
    REMOVAL_HOURS,
    ROUND_HOURS,
    WAVE_HOURS,
    SimOptions,
)
from hw_sim.network.people_day import PeopleDay
from hw_sim.network.sim_site import SimSite
from hw_sim.network.site_setup import (
    CENTRAL_CLIENT_ID,
    central_config,
    family_of,
    start_site,
    trim,
)
from hw_sim.network.tally import Tally
from protocols.clock import ScaledClock
from protocols.localtime import local_midnight
from protocols.messages import SiteKind
from protocols.tokens import TokenSigner

__all__ = ["Fleet", "SimOptions", "SimSite", "Tally", "simulate"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60.0  # real seconds for every site to reach the broker at the start
# Real seconds allowed for building the world before the simulated day's midnight: a fixed
# part (the broker, central's processes) and a part per site (a default day's 210 sites are
# built in 3-4 s, the whole network's 2,100 in about 30 s).
BUILD_ALLOWANCE_S = 2.0
BUILD_ALLOWANCE_PER_SITE_S = 0.012


def day_clock(options: SimOptions, sites: int, midnight: float) -> ScaledClock:
    """The day's clock: `options.compression` times real time, reading `midnight` (Unix s:
    the start of the network's local day, `local_midnight`) once the world of `sites` sites
    has had its building allowance. The plan's hours are then the hours people live by
    (the quiet hours that hold a message until 08:00; the evening's last rounds) whenever
    the simulator runs: anchored at the moment it was started, a day begun at 15:00 ran its
    home rounds in the night, their failed attempts waited for the next morning and those
    parcels ended the day stuck."""
    allowance_s = BUILD_ALLOWANCE_S + BUILD_ALLOWANCE_PER_SITE_S * sites
    return ScaledClock(options.compression, start=midnight - allowance_s * options.compression)


class Fleet:
    """Builds the world, runs the day, and collects what happened."""

    def __init__(
        self,
        options: SimOptions,
        workdir: Path,
        progress: Callable[[str], None],
        console: Console | None = None,
    ) -> None:
        self.options = options
        self.workdir = workdir
        self.progress = progress
        self.live_view = LiveView(progress, console)
        self.midnight = local_midnight(time.time())  # when the day begins (`until_midnight`)
        self.clock = day_clock(options, options.lockers + options.counters, self.midnight)
        self.rng = random.Random(options.seed)  # noqa: S311 - a seeded model, not a secret
        self.signer = TokenSigner.generate()
        self.tally = Tally()
        self.loop_lag = LoopLag(options.compression)
        self.sites: dict[str, SimSite] = {}
        # Site i on broker i mod M (`broker_of`); central is configured with all of them.
        self.brokers = [
            PrivateBroker(workdir / ("broker" if options.brokers == 1 else f"broker-{i + 1}"))
            for i in range(options.brokers)
        ]
        self.network: Network = generate_network(
            options.seed,
            lockers=options.lockers,
            counters=options.counters,
            couriers=options.couriers,
        )
        self.centrals: list[CentralProcess] = []
        self.store = DayStore.plan(options.store, workdir)
        self.central_records = CentralRecords(self.store.location)
        self.people = PeopleDay(self)
        self.settled: dict[str, set[str]] | None = None  # each site's event ids, all at central
        self._background: list[asyncio.Task[None]] = []
        self.started = time.perf_counter()
        self.day_start = self.clock.now()
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self.console: SimConsole | None = None
        self.home = HomeRounds(self, workdir)  # the couriers' handhelds (home_round.py)

    # ------------------------------------------------------------------------ building
    async def build(self) -> None:
        """Start the broker, central and every site's hardware and agent; return once every
        agent is connected (or after a minute)."""
        for broker in self.brokers:
            broker.start()
        await asyncio.to_thread(self.store.create)
        (self.workdir / "central-signing-key.pem").write_bytes(self.signer.private_pem())
        (self.workdir / "central.pub").write_bytes(self.signer.verifier().public_pem())
        # Lockers beyond what fits on ten CU16 boards are trimmed to that, whatever their family.
        sites = [
            trim(spec, MAX_BOARDS * LOCKS_PER_BOARD) if spec.kind is SiteKind.LOCKER else spec
            for spec in self.network.sites
        ]
        self.network = Network(
            sites=sites, partners=self.network.partners, couriers=self.network.couriers
        )
        # One after another: each loads the network into the store as it starts, and the
        # first creates the schema.
        for number in range(1, self.options.centrals + 1):
            expiry = member_session_s(number, self.options.centrals, self.options.faults)
            config = self._central_config(f"{CENTRAL_CLIENT_ID}-{number}", expiry)
            if number == 1:
                config.update(self.home.central_sections())  # it serves the handhelds
            central = self._central_process(config, f"central {number}")
            self.centrals.append(central)
            await asyncio.to_thread(central.start)
        # The couriers' handhelds, on the first central process's API.
        await asyncio.to_thread(self.home.start, self.network, self._central_config("sim-home"))
        pty_left = self.options.pty_sites
        lockers = 0
        for spec in self.network.sites:
            seed = self.rng.randrange(1 << 30)
            over_pty = spec.kind is SiteKind.LOCKER and pty_left > 0
            if over_pty:
                pty_left -= 1
            family = family_of(lockers)
            lockers += spec.kind is SiteKind.LOCKER
            self.sites[spec.id] = await start_site(
                spec,
                over_pty=over_pty,
                seed=seed,
                family=family,
                clock=self.clock,
                verifier=self.signer.verifier(),
                options=self.options,
                broker=self.broker_of(len(self.sites)),
                workdir=self.workdir,
            )
        await _until(
            lambda: all(s.agent.link.connected for s in self.sites.values()), CONNECT_TIMEOUT_S
        )

    def start_console(self, listen: str) -> SimConsole:
        """Serve the operator console on `listen` over the day's store (built first), and
        say where and with which login."""
        self.console = SimConsole.start(
            listen, self._central_config("sim-console"), self.workdir, self.signer, self.clock
        )
        self.console.announce(self.progress)
        return self.console

    @property
    def broker(self) -> PrivateBroker:
        """The day's first broker (the only one, unless the day spreads its sites)."""
        return self.brokers[0]

    @property
    def central(self) -> CentralProcess | None:
        """The first central process, which the day's first wave goes to."""
        return self.centrals[0] if self.centrals else None

    def broker_of(self, ordinal: int) -> PrivateBroker:
        """The broker of the network's `ordinal`-th site (0-based): i mod M."""
        return self.brokers[ordinal % len(self.brokers)]

    def _central_config(
        self, client_id: str, session_expiry_s: int | None = None
    ) -> dict[str, Any]:
        return central_config(
            self.options,
            self.brokers,
            self.workdir,
            self.store.section,
            client_id=client_id,
            session_expiry_s=session_expiry_s,
        )

    def _central_process(self, config: dict[str, Any], name: str) -> CentralProcess:
        spec = CentralSpec(
            config=config,
            network=self.network,
            signing_key_pem=self.signer.private_pem(),
            clock_anchor=self.clock.anchor,
        )
        return CentralProcess(
            spec, on_code=self.people.code_issued, progress=self.progress, name=name
        )

    def start_central_member(self, client_id: str, session_expiry_s: int) -> CentralProcess:
        """Another central process on the day's brokers, store and shared subscription, on
        the day's clock, with its own broker client id and session expiry. Started."""
        member = self._central_process(
            self._central_config(client_id, session_expiry_s), f"central {client_id}"
        )
        member.start()
        return member

    # ------------------------------------------------------------------------- the day
    async def run_day(self) -> None:
        """Play the day's plan: the waves of parcels announced to central, the courier and
        removal rounds, the faults (unless switched off), with the live view beside it.
        A visit or fault that crashed is written in the tally as an invariant broken."""
        assert self.centrals
        manifest = generate_manifest(
            self.network, self.options.parcels, self.options.seed, self.day_start
        )
        waves = _split(manifest, len(WAVE_HOURS))
        plan: list[tuple[float, str, Any]] = []
        for hour, wave in zip(WAVE_HOURS, waves, strict=True):
            plan.append((hour, "wave", wave))
        handed = 0
        for hour in ROUND_HOURS:
            plan.append((hour + 0.5, "round", None))
        for hour in REMOVAL_HOURS:
            plan.append((hour, "removals", None))
        for hour in HOME_ROUND_HOURS:
            plan.append((hour, "home", None))
        if self.options.faults:
            plan.extend(DayFaults(self).plan())
            plan.extend(FieldFaults(self).plan())
        plan.sort(key=lambda item: item[0])
        _freeze_the_long_lived()
        sampler = asyncio.ensure_future(watch(self, self.live_view))
        self.loop_lag.start()
        try:
            for hour, kind, payload in plan:
                await self._until_hour(hour)
                if kind == "wave":
                    # To one central process, in turn (a live one: the field's faults kill
                    # one); it places the wave in the background, the couriers do not wait.
                    self._wave_taker(handed).announce(payload)
                    handed += 1
                elif kind == "round":
                    self.people.courier_round()
                elif kind == "removals":
                    self.people.removal_round()
                elif kind == "home":
                    self.home.round()
                else:
                    await payload()
            await self._until_hour(self.options.day_s / HOUR_S - 0.01)
            for task in self._background:
                task.cancel()
            outcomes = await asyncio.gather(*self._background, return_exceptions=True)
            # A person's visit that crashed is a broken day, not a quiet shortfall.
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(
                    outcome, asyncio.CancelledError
                ):
                    self.tally.broken.append(f"a visit failed: {outcome!r}")
        finally:
            await self.loop_lag.stop()
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    async def until_midnight(self) -> None:
        """Begin the day: at its midnight (waiting for it if the world was built early), or
        now if building overran its allowance (the plan's hours then run that much late in
        the local day: said in the log)."""
        midnight = self.midnight
        if self.clock.now() < midnight:
            await self.clock.sleep(midnight - self.clock.now())
        else:
            log.warning(
                "building the world took %.0f simulated s past the day's midnight: the plan's "
                "hours run that much late",
                self.clock.now() - midnight,
            )
        self.day_start = self.clock.now()

    def hour(self) -> float:
        """Simulated hours since the day began."""
        return (self.clock.now() - self.day_start) / HOUR_S

    async def _until_hour(self, hour: float) -> None:
        delay = hour * HOUR_S - (self.clock.now() - self.day_start)
        if delay > 0:
            await self.clock.sleep(delay)

    def later(self, hours: float, action: Callable[[], None]) -> None:
        """Do `action` `hours` simulated hours from now, without holding up the day."""

        async def run() -> None:
            await self.clock.sleep(hours * HOUR_S)
            action()

        self.background(run())

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` beside the day; it is cancelled at the day's end, and a crash in it
        breaks the verdict."""
        self._background.append(asyncio.ensure_future(work))

    # ------------------------------------------------------------------------- the end
    def central_has_all(self, site: SimSite) -> bool:
        """Whether central has stored every event `site` has written."""
        return self.central_records.has_all(site.spec.id, site.written_ids())

    async def settle(self, timeout_s: float = 90.0) -> None:
        """Let the last events reach central before counting (verdict.settle)."""
        await verdict.settle(self, timeout_s)

    def summary(self) -> dict[str, Any]:
        """The day's figures and verdict (verdict.summary)."""
        return verdict.summary(self)

    async def close(self) -> None:
        """Stop the console, every agent and its hardware, central and the broker."""
        if self.console is not None:
            await asyncio.to_thread(self.console.stop)
            self.console = None
        await self.home.close()
        try:
            for site in self.sites.values():
                with contextlib.suppress(Exception):
                    await site.agent.stop()
                await site.sim.aclose()
            await self.stop_central()
        finally:
            for broker in self.brokers:
                broker.stop()
            await asyncio.to_thread(self.store.close)

    async def stop_central(self) -> None:
        """Every central process commits what it received and reports its own peak memory;
        all at once, as a deployment's are stopped."""
        await asyncio.gather(*(asyncio.to_thread(c.stop) for c in self.centrals))

    def _wave_taker(self, turn: int) -> CentralProcess:
        live = [c for c in self.centrals if not c.killed] or self.centrals
        return live[turn % len(live)]

    # ------------------------------------------------------------------------ the loop
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The day's event loop, for work handed in from another thread (central's replies)."""
        if _in_loop():
            return asyncio.get_running_loop()
        assert self._main_loop is not None, "remember_loop() first"
        return self._main_loop

    def remember_loop(self) -> None:
        """Remember the running loop as the day's: call it on that loop before `build`."""
        self._main_loop = asyncio.get_running_loop()


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _split(items: list[ParcelAnnouncement], parts: int) -> list[list[ParcelAnnouncement]]:
    size = -(-len(items) // parts) if items else 0
    return [items[i * size : (i + 1) * size] for i in range(parts)]


def _freeze_the_long_lived() -> None:
    """The world and the day's manifest live all day: out of the cyclic garbage collector's
    sight (gc.freeze), or each full collection walks every one of their objects with the
    loop stopped (the 200,000-parcel manifest alone: 0.4 s a collection; the --full day's
    loop stood still 1.5-3 s at a time in hours without a wave)."""
    gc.freeze()


async def simulate(
    options: SimOptions,
    progress: Callable[[str], None],
    workdir: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run one simulated day; returns the summary (with the tally for charts, "_tally").
    `progress` gets the day's plain lines; the live view is a rich table on `console` if it
    is a terminal, else plain lines through `progress`. Scratch files go in `workdir` (a
    temporary folder, removed after, if None)."""
    scratch = None
    if workdir is None:
        scratch = tempfile.TemporaryDirectory(prefix="lockernet-sim-")
        workdir = Path(scratch.name)
    fleet = Fleet(options, workdir, progress, console)
    fleet.remember_loop()
    try:
        progress(
            f"building: {options.lockers} lockers, {options.counters} collection points, "
            f"{options.parcels} parcels, day x{options.compression:.0f}"
        )
        await fleet.build()
        if options.console is not None:
            await asyncio.to_thread(fleet.start_console, options.console)
        await fleet.until_midnight()
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
