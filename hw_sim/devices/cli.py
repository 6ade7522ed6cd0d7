"""`lockernet hwsim`: one site's simulated devices on ptys, until stopped.

Once ready, the first line on stdout is one JSON object naming the device paths ("locks",
"scanner") and the control socket ("control"); see docs/hwsim.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from hw_sim.devices.control import serve_control
from hw_sim.devices.families import DEVICES, device_family
from hw_sim.devices.scanner import ScanMode, ScannerModel, ScannerOptions
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.errors import ConfigError
from protocols.clock import Clock, ScaledClock, SystemClock
from protocols.scanner import ScannerFraming, Suffix

CONTROL_SOCKET = "control.sock"
_SUFFIXES = {"cr": Suffix.CR, "crlf": Suffix.CRLF, "lf": Suffix.LF}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "hwsim",
        help="run one site's simulated lock boards and scanner on ptys",
        description="Runs one site's simulated devices on pseudo-terminals until SIGINT or "
        "SIGTERM. The first stdout line is JSON naming the device paths and the control socket.",
    )
    parser.add_argument(
        "--profile", choices=sorted(DEVICES), default="cu16", help="the lock-board family"
    )
    parser.add_argument("--boards", type=int, default=1, help="boards on the bus (default 1)")
    parser.add_argument("--dir", type=Path, required=True, help="where the device paths go")
    parser.add_argument("--seed", type=int, default=0, help="seed of faults' random choices")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="run time this many times faster (default 1)"
    )
    for family, device in sorted(DEVICES.items()):
        device.add_arguments(parser.add_argument_group(family.value, device.facts.title))
    scanner = parser.add_argument_group("scanner")
    scanner.add_argument(
        "--scanner-mode", choices=[m.value for m in ScanMode], default="presentation"
    )
    scanner.add_argument("--suffix", choices=sorted(_SUFFIXES), default="cr")
    scanner.add_argument("--prefix", default="", help="text sent before every code")
    scanner.add_argument("--aim-id", action="store_true", help="send the AIM symbology id")
    scanner.add_argument(
        "--scanner-model",
        choices=[m.value for m in ScannerModel],
        default=ScannerModel.HONEYWELL.value,
        help="whose set-up commands the scanner answers: Honeywell menus or GM65 zone bits",
    )
    parser.set_defaults(handler=_run)


def config_from(args: argparse.Namespace) -> SiteConfig:
    return SiteConfig(
        profile=args.profile,
        boards=args.boards,
        board_options=device_family(args.profile).options_from(args),
        scanner=ScannerOptions(
            framing=ScannerFraming(suffix=_SUFFIXES[args.suffix], prefix=args.prefix),
            send_aim_id=args.aim_id,
            mode=ScanMode(args.scanner_mode),
            model=ScannerModel(args.scanner_model),
        ),
        seed=args.seed,
    )


def _run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
        if args.speed <= 0:
            raise ConfigError("--speed must be positive")
    except ConfigError as error:
        print(f"lockernet hwsim: {error}", file=sys.stderr)
        return 2
    clock: Clock = SystemClock() if args.speed == 1 else ScaledClock(args.speed)
    return asyncio.run(serve(config, args.dir, clock))


async def serve(config: SiteConfig, directory: Path, clock: Clock) -> int:
    """Serve until SIGINT or SIGTERM; cleans its paths up on the way out."""
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    site = SimulatedSite(clock, config)
    locks, scanner = site.serve_pty(directory)
    control = directory / CONTROL_SOCKET
    server = await serve_control(site, control)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        ready = {
            "locks": str(locks.path),
            "scanner": str(scanner.path),
            "control": str(control),
            "profile": config.profile.value,
            "boards": site.board_ids,
            "locks_baud": site.locks.baud,
            "scanner_baud": site.scanner.baud,
            "locks_tty": locks.slave_name,
            "scanner_tty": scanner.slave_name,
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        server.close()
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            control.unlink()
        await site.aclose()
    return 0
