"""The configurations of the day's programs and the starting of its sites.

Central's configuration and each site agent's are written here as `lockernet` would read
them from TOML, with every timer converted from REAL seconds to the day's simulated seconds
(hw_sim/network/options.py), and each is validated before anything starts. `start_site`
builds a site's simulated hardware, serves it over ptys or in memory, and starts its agent.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from central.broker import PrivateBroker
from central.service.config import parse_config as parse_central_config
from central.sites.network import NetworkSite
from edge.agent import SiteAgent
from edge.config import parse_config as parse_site_config
from edge.drivers.links import ByteLink, Opener, serial_opener
from hw_sim.devices.families import device_family
from hw_sim.devices.memory_transport import MemoryPort
from hw_sim.devices.rs485_board import Rs485Options
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.field.wall_clock import WrongClock
from hw_sim.network.liveness_timing import central_sections, site_timing
from hw_sim.network.options import (
    HOUR_S,
    MAX_BOARDS,
    PICKUP_WINDOW_H,
    REAL_REPLY_TIMEOUT_S,
    REAL_REPUBLISH_S,
    SIZES,
    SimOptions,
)
from hw_sim.network.sim_site import SimSite
from protocols.boards import BoardFamily
from protocols.clock import ScaledClock
from protocols.messages import SiteKind, SizeClass
from protocols.tokens import TokenVerifier

# The day's lockers by lock-board family, in turn in the network's order: most on the CU16,
# a share on the generic RS485 board and on the CU48, so every family's codec, driver dialect
# and simulated board runs through the day. The first locker (a CU16, over a pty with the
# echoing adapter) and the second (over a pty too) keep the serial path busy for both Kerong
# families.
FAMILY_TURNS = (
    BoardFamily.CU16,
    BoardFamily.CU48,
    BoardFamily.CU16,
    BoardFamily.RS485_8A,
    BoardFamily.CU16,
)
# A family's board options where its defaults do not suit a locker: the generic board is
# sold with 8 to 50 channels; the day's have 16, as a CU16 has locks.
FAMILY_OPTIONS: dict[BoardFamily, Any] = {BoardFamily.RS485_8A: Rs485Options(channels=16)}
# Real seconds a parcel stays announced before central's timer places it again. Central's
# 30 s is a fraction of a real second under the day's compression, and every process's timer
# then raced the wave's own placement for the same parcels (safe since placement claims each
# parcel and never waits for a site while holding one, but wasted work). Not much longer:
# a parcel whose reservation a site refused waits this long to be placed again, and at x2880
# ten real seconds were eight simulated hours, past the day's last courier round.
REAL_REPLACE_AFTER_S = 1.0
# Central's client id at the broker; each of the day's central processes adds its number.
CENTRAL_CLIENT_ID = "sim-central"


def central_config(
    options: SimOptions,
    brokers: list[PrivateBroker],
    workdir: Path,
    store: dict[str, str],
    *,
    client_id: str = CENTRAL_CLIENT_ID,
    session_expiry_s: int | None = None,
) -> dict[str, Any]:
    """Central's configuration for the day (sections of scalars, as TOML would give them):
    every one of `brokers` (one: `[broker]`; several: `[[brokers]]`, named by
    `broker_name`), `store` as its `[store]`, `client_id` and `session_expiry_s` (None:
    central's default) at each broker. Raises central's ConfigError here, in this process,
    for a bad value."""
    compression = options.compression
    config: dict[str, Any] = {
        **broker_sections(brokers, client_id, session_expiry_s),
        "store": dict(store),
        "keys": {"signing_key": str(workdir / "central-signing-key.pem")},
        "pickup": {
            "window_s": PICKUP_WINDOW_H * HOUR_S,
            "reminder_before_s": 2 * HOUR_S,
            "notify_folder": str(workdir / "notifications"),
        },
        # A gap (events the broker took but never delivered, as across a restart
        # that lost central's shared subscription) is asked for again after ~3 s.
        "ingest": {"gap_timeout_s": 3 * compression},
        "commands": {"expiry_s": int(max(3600, 120 * compression))},
        "service": {
            "tick_interval_s": 0.5,
            "status_interval_s": 60.0,
            "replace_after_s": REAL_REPLACE_AFTER_S * compression,
        },
    }
    config.update(central_sections(compression))
    parse_central_config(config)  # a bad configuration fails here, not in the child
    return config


def broker_name(index: int, brokers: int) -> str:
    """The name of the day's `index`-th broker of `brokers` in central's configuration: the
    one broker is "main", as central calls a lone `[broker]`; several are b1, b2, ..."""
    return "main" if brokers == 1 else f"b{index + 1}"


def broker_sections(
    brokers: list[PrivateBroker], client_id: str, session_expiry_s: int | None = None
) -> dict[str, Any]:
    """Central's broker sections: `[broker]` for one, `[[brokers]]` for several, each with
    central's `client_id` (a process has one id, the same at every broker) and, if given,
    its session expiry."""
    sections = []
    for index, broker in enumerate(brokers):
        section: dict[str, Any] = {"host": broker.host, "port": broker.port, "client_id": client_id}
        if session_expiry_s is not None:
            section["session_expiry_s"] = session_expiry_s
        if len(brokers) > 1:
            section["name"] = broker_name(index, len(brokers))
        sections.append(section)
    return {"broker": sections[0]} if len(sections) == 1 else {"brokers": sections}


def site_config(
    spec: NetworkSite,
    ports: tuple[str, str],
    options: SimOptions,
    broker: PrivateBroker,
    workdir: Path,
    *,
    hardware: SimConfig | None = None,
) -> dict[str, Any]:
    """A site agent's configuration: its lock bus on `ports[0]`, its scanner on `ports[1]`
    (device paths, or "memory"), one slot per compartment, board by board. A locker's bus
    and slots follow its simulated `hardware` (its family, board ids and locks per board;
    `locker_hardware(spec)` if None)."""
    c = options.compression
    base: dict[str, Any] = {
        "site_id": spec.id,
        "kind": spec.kind.value,
        "state_dir": str(workdir / "sites"),
        "central_public_key": str(workdir / "central.pub"),
        "broker": {"host": broker.host, "port": broker.port},
        "scanner": {"port": ports[1]},
        "timing": {
            "republish_after_s": REAL_REPUBLISH_S * c,
            "reconnect_min_s": 0.5 * c,
            "reconnect_max_s": 5.0 * c,
            "door_left_open_s": 10 * 60.0,
            "courier_session_s": HOUR_S,
            "timer_interval_s": min(3600.0, options.real_timer_s * c),
            **site_timing(c),
        },
    }
    if spec.kind is SiteKind.COUNTER:
        base["shelf_capacity"] = spec.shelf_capacity
        return base
    hardware = hardware if hardware is not None else locker_hardware(spec)
    slots = []
    index = 0
    for size in SIZES:
        for _ in range(spec.compartments.get(size, 0)):
            board, lock = divmod(index, hardware.locks_per_board)
            slots.append(
                {
                    "id": f"{chr(65 + board)}{lock + 1:02d}",
                    "board": hardware.board_ids[board],
                    "lock": lock + 1,
                    "size": size.value,
                }
            )
            index += 1
    base["lock_bus"] = {
        "port": ports[0],
        **hardware.lock_bus_keys(),
        "poll_interval_s": options.real_poll_s * c,
        "reply_timeout_s": REAL_REPLY_TIMEOUT_S * c,
    }
    base["slots"] = slots
    return base


def family_of(ordinal: int) -> BoardFamily:
    """The lock-board family of the network's `ordinal`-th locker (0-based): FAMILY_TURNS."""
    return FAMILY_TURNS[ordinal % len(FAMILY_TURNS)]


def locker_hardware(
    spec: NetworkSite, family: BoardFamily = BoardFamily.CU16, seed: int = 0
) -> SimConfig:
    """A locker's simulated boards: of `family`, as many as its compartments take (at
    least one, at most ten)."""
    device = device_family(family)
    options = FAMILY_OPTIONS.get(family) or device.options()
    total = sum(spec.compartments.values())
    boards = max(1, min(MAX_BOARDS, -(-total // device.locks_per_board(options))))
    return SimConfig(profile=family, boards=boards, board_options=options, seed=seed)


def trim(spec: NetworkSite, limit: int) -> NetworkSite:
    """`spec` with at most `limit` compartments, the smallest sizes kept first."""
    if sum(spec.compartments.values()) <= limit:
        return spec
    remaining = limit
    trimmed: dict[SizeClass, int] = {}
    for size in SIZES:
        take = min(spec.compartments.get(size, 0), remaining)
        trimmed[size] = take
        remaining -= take
    return spec.model_copy(update={"compartments": trimmed})


async def start_site(
    spec: NetworkSite,
    *,
    over_pty: bool,
    seed: int,
    family: BoardFamily,
    clock: ScaledClock,
    verifier: TokenVerifier,
    options: SimOptions,
    broker: PrivateBroker,
    workdir: Path,
) -> SimSite:
    """Build `spec`'s simulated hardware (a locker's boards of `family`), serve it over real
    ptys (`over_pty`, as on a Pi, through pyserial) or in memory, and start its agent on a
    wall clock a fault can set wrong. Raises edge's ConfigError for a configuration it
    refuses."""
    if spec.kind is SiteKind.LOCKER:
        hardware = locker_hardware(spec, family, seed)
    else:
        hardware = SimConfig(boards=1, seed=seed)  # a counter has a scanner only
    sim = SimulatedSite(clock, hardware)
    if over_pty:
        folder = workdir / "pty" / spec.id
        folder.mkdir(parents=True)
        sim.serve_pty(folder)
        bus_port, scan_port = str(folder / "locks"), str(folder / "scanner")
        ports = (bus_port, scan_port)
        config = parse_site_config(
            site_config(spec, ports, options, broker, workdir, hardware=hardware)
        )
        assert config.lock_bus is not None and config.scanner is not None
        lock_opener: Opener | None = serial_opener(bus_port, config.lock_bus.baud_rate)
        scan_opener: Opener = serial_opener(scan_port, config.scanner.baud)
    else:
        locks, scanner = sim.serve_memory()
        ports = ("memory", "memory")
        config = parse_site_config(
            site_config(spec, ports, options, broker, workdir, hardware=hardware)
        )
        lock_opener = memory_opener(locks) if spec.kind is SiteKind.LOCKER else None
        scan_opener = memory_opener(scanner)
    wall = WrongClock(clock)
    rebuild = partial(
        SiteAgent,
        config,
        clock=wall,
        verifier=verifier,
        lock_opener=lock_opener,
        scanner_opener=scan_opener,
        durable=False,
    )
    agent = rebuild()
    await agent.start()
    return SimSite(spec, agent, sim, wall, rebuild, over_pty=over_pty)


def memory_opener(port: MemoryPort) -> Opener:
    """An agent's opener for a simulated device served in memory (`SimulatedSite.serve_memory`)."""

    async def open_port() -> ByteLink:
        return port.open()

    return open_port
