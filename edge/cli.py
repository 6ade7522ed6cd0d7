"""`lockernet edge ...`: run the site agent, and the technician's commands on the device."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.errors import EdgeError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edge = commands.add_parser("edge", help="the site agent on a locker or collection point")
    sub = edge.add_subparsers(dest="edge_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="run the site agent")
    run.add_argument("--config", type=Path, required=True, help="the site's TOML file")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(handler=_run)

    diag = sub.add_parser("diag", help="print the site's diagnostic report")
    diag.add_argument("--config", type=Path, required=True)
    diag.add_argument("--json", action="store_true", help="the full report as JSON")
    diag.set_defaults(handler=_diag)

    from edge.config_cli import register_config

    register_config(sub)

    slot = sub.add_parser("slot", help="take a slot out of service or back")
    slot.add_argument("--config", type=Path, required=True)
    slot.add_argument("slot")
    state = slot.add_mutually_exclusive_group(required=True)
    state.add_argument("--out", action="store_true", help="out of service")
    state.add_argument("--in", dest="back", action="store_true", help="back in service")
    slot.add_argument("--by", default="technician")
    slot.add_argument("--reason", default="technician")
    slot.set_defaults(handler=_slot)

    maintenance = sub.add_parser("maintenance", help="open a maintenance session")
    maintenance.add_argument("--config", type=Path, required=True)
    maintenance.add_argument("--minutes", type=float, default=30)
    maintenance.set_defaults(handler=_maintenance)


def _load(path: Path) -> Any:
    from edge.config import load_config

    return load_config(path)


def _run(args: argparse.Namespace) -> int:
    from edge.host import service
    from protocols.logs import configure_logging

    try:
        config = _load(args.config)
        # The level from the command line (systemd's unit sets it), the form from site.toml.
        configure_logging(args.log_level, config.log_format)
        asyncio.run(service.run(config))
    except EdgeError as exc:
        print(f"lockernet edge: {exc}", file=sys.stderr)
        return 2
    return 0


def _ask(
    args: argparse.Namespace,
    request: dict[str, Any],
    show: Callable[[dict[str, Any]], str] | None = None,
) -> int:
    """Send `request` to the running agent and print its answer: as JSON, or the report
    through `show` (a readable summary)."""
    from edge.host import control

    try:
        config = _load(args.config)
    except EdgeError as exc:
        print(f"lockernet edge: {exc}", file=sys.stderr)
        return 2
    path = control.socket_path(config.state_dir, config.site_id)
    try:
        answer = asyncio.run(control.ask(path, request))
    except OSError as exc:
        print(f"lockernet edge: the agent is not running ({path}: {exc})", file=sys.stderr)
        return 1
    report = answer.get("report")
    if show is not None and answer.get("ok") and isinstance(report, dict):
        print(show(report))
    else:
        print(json.dumps(report if report is not None else answer, indent=2))
    return 0 if answer.get("ok") else 1


def _diag(args: argparse.Namespace) -> int:
    from protocols.site_report import summary

    if args.json:
        return _ask(args, {"op": "diag"})
    return _ask(args, {"op": "diag"}, show=summary)


def _slot(args: argparse.Namespace) -> int:
    return _ask(
        args,
        {
            "op": "slot",
            "slot": args.slot,
            "in_service": bool(args.back),
            "by": args.by,
            "reason": args.reason,
        },
    )


def _maintenance(args: argparse.Namespace) -> int:
    return _ask(args, {"op": "maintenance", "minutes": args.minutes})
