"""`lockernet sla`: the share of parcels ready for pickup or delivered within the promise,
per partner, per site and per day, and where the breached ones lost their time.

    lockernet sla [--day YYYY-MM-DD] [--json] [--config central.toml]

Reads a snapshot of the store (never holds up ingest). Exit status: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from central.operator.cli import _config_option, _guarded, _open_reader


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet sla`."""
    sla = commands.add_parser(
        "sla", help="the share delivered within the promise, per partner, site and day"
    )
    sla.add_argument(
        "--day",
        type=_day,
        metavar="YYYY-MM-DD",
        help="only the parcels due that day (Singapore time); default: every day",
    )
    sla.add_argument("--json", action="store_true", help="print the report as JSON")
    _config_option(sla)
    sla.set_defaults(handler=_guarded(_sla))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _sla(args: argparse.Namespace) -> int:
    from central.operator.console import console
    from central.operator.sla import render_sla, sla_report

    with _open_reader(args) as reader:
        report = sla_report(reader.view, args.day)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        console().print(render_sla(report))
    return 0
