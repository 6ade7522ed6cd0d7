"""`lockernet sim`: the whole network on one machine through a compressed day."""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

FULL = {"lockers": 500, "counters": 1600, "couriers": 600, "parcels": 200_000}
FULL_MINUTES = 60.0
SAMPLE = {"lockers": 50, "counters": 160, "couriers": 60, "parcels": 4_000}
DEFAULT_CONSOLE = "127.0.0.1:8080"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sim",
        help="run the whole network (broker, central, sites, people) through a simulated day",
        description="Runs a private broker, central and every site agent on simulated hardware "
        "through a compressed day of parcels with faults, prints a summary and exits non-zero "
        "if any event was lost, any effect duplicated or any invariant broken.",
    )
    parser.add_argument("--full", action="store_true", help="the whole network and 200,000 parcels")
    parser.add_argument("--lockers", type=int)
    parser.add_argument("--counters", type=int)
    parser.add_argument("--couriers", type=int)
    parser.add_argument("--parcels", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--day-hours", type=float, default=24.0, help="simulated day length")
    parser.add_argument(
        "--minutes",
        type=float,
        help="how long the day takes on the wall clock (default: 2; 60 with --full, where one "
        "event loop carries 2,100 agents and the courier rounds keep it busy at x24)",
    )
    parser.add_argument("--pty-sites", type=int, default=2, help="sites served over real ptys")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="central's store: postgresql://user@host/db (a server you run; the day gets a "
        "database of its own beside db, dropped at the end: the role needs CREATEDB), or a "
        "SQLite path or sqlite: url (default: a SQLite file in the day's work folder)",
    )
    parser.add_argument(
        "--centrals",
        type=int,
        default=1,
        help="central processes sharing the work (default 1); with several, the field's "
        "kill -9 takes one of them",
    )
    parser.add_argument(
        "--brokers",
        type=int,
        default=1,
        help="private brokers, site i on broker i mod M, central on all (default 1)",
    )
    parser.add_argument("--report", type=Path, help="write summary.json and PNG charts here")
    parser.add_argument(
        "--console",
        nargs="?",
        const=DEFAULT_CONSOLE,
        metavar="HOST:PORT",
        help=f"serve the operator console on the day's store while it runs (default "
        f"{DEFAULT_CONSOLE}); the URL, a login and its password are printed at the start",
    )
    parser.set_defaults(handler=_handler)


def _handler(args: argparse.Namespace) -> int:
    from rich.console import Console

    from hw_sim.errors import ConfigError
    from hw_sim.network.fleet import SimOptions, simulate
    from hw_sim.network.summary_table import print_summary

    sizes = dict(FULL if args.full else SAMPLE)
    for key in sizes:
        value = getattr(args, key)
        if value is not None:
            sizes[key] = value
    minutes = args.minutes if args.minutes is not None else (FULL_MINUTES if args.full else 2.0)
    if minutes <= 0 or args.day_hours <= 0 or min(sizes.values()) < 0:
        print("lockernet sim: sizes and durations must be positive", file=sys.stderr)
        return 2
    if args.centrals < 1 or args.brokers < 1:
        print("lockernet sim: --centrals and --brokers must be at least 1", file=sys.stderr)
        return 2
    if args.console is not None:
        from hw_sim.network.console import check_listen

        try:
            check_listen(args.console)  # a taken port fails now, not after the build
        except ConfigError as exc:
            print(f"lockernet sim: {exc}", file=sys.stderr)
            return 2
    _raise_file_limit()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    options = SimOptions(
        lockers=sizes["lockers"],
        counters=sizes["counters"],
        couriers=sizes["couriers"],
        parcels=sizes["parcels"],
        seed=args.seed,
        day_s=args.day_hours * 3600,
        wall_s=minutes * 60,
        pty_sites=args.pty_sites,
        faults=not args.no_faults,
        store=args.store,
        centrals=args.centrals,
        brokers=args.brokers,
        console=args.console,
    )
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    stopped_by_sigterm = False

    async def run() -> dict[str, Any]:
        # SIGTERM stops the day like Ctrl-C does: central and the broker are stopped too.
        task = asyncio.current_task()
        assert task is not None

        def stop() -> None:
            nonlocal stopped_by_sigterm
            stopped_by_sigterm = True
            task.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
        # The live view: a rich table on a terminal, plain progress lines anywhere else.
        return await simulate(options, progress, console=Console(stderr=True))

    try:
        summary = asyncio.run(run())
    except ConfigError as exc:
        print(f"lockernet sim: {exc}", file=sys.stderr)
        return 2
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("lockernet sim: stopped before the end of the day", file=sys.stderr)
        return 143 if stopped_by_sigterm else 130
    tally = summary.pop("_tally")
    print_summary(summary)
    if args.report:
        from hw_sim.network.report import write_report

        for path in write_report(args.report, summary, tally):
            print(f"wrote {path}", file=sys.stderr)
    return 0 if summary["verdict"] == "clean" else 1


def _raise_file_limit() -> None:
    # Every site holds an MQTT connection and paho's wake-up socket pair: ~3 descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
