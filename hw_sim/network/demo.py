"""`lockernet demo`: the command. The demo itself (hw_sim/network/demo_run.py) imports the
whole site agent and is loaded only when the command runs, so it costs nothing to every other
`lockernet` command (each part's commands are registered at every start)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="run a few sites end to end and print a verdict")
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--parcels", type=int, default=30)
    parser.add_argument("--report", type=Path, help="write summary.json into this folder")
    parser.set_defaults(handler=_handler)


def _handler(args: argparse.Namespace) -> int:
    from hw_sim.network.demo_run import run_demo
    from hw_sim.network.summary_table import print_summary

    if not 1 <= args.sites <= 50 or not 1 <= args.parcels <= 2000:
        print("lockernet demo: --sites 1-50, --parcels 1-2000", file=sys.stderr)
        return 2
    summary = asyncio.run(run_demo(args.sites, args.parcels))
    print_summary(summary)
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["verdict"] == "clean" else 1
