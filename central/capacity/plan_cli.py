"""`lockernet plan`: the network under a growing day, year by year (central/capacity/plan.py).

A rich table on stdout (or one JSON object with --json); with --report DIR a PNG chart
(plan.png: the fallback share per year without and with the added compartments, and the
compartments to add per size per year) and plan.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from central.capacity.plan import PlanOptions, YearPlan

MAX_PARCELS = 2_000_000
MAX_YEARS = 30


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser(
        "plan", help="place a growing day on the network: fallback and compartments to add"
    )
    plan.add_argument(
        "--growth", type=_share("--growth"), default=0.2, help="a year's growth (0.2 = 20%%)"
    )
    plan.add_argument("--years", type=_whole("--years", 1, MAX_YEARS), default=5)
    plan.add_argument("--network", type=Path, help="network file (default: generated)")
    plan.add_argument(
        "--seed", type=int, default=1, help="seeds the generated network and the parcels"
    )
    plan.add_argument(
        "--parcels", type=_whole("--parcels", 1, MAX_PARCELS), default=200_000, help="today's day"
    )
    plan.add_argument(
        "--target-fallback",
        type=_share("--target-fallback"),
        default=0.02,
        help="the share of a day's parcels allowed to fall back to home delivery",
    )
    plan.add_argument("--report", type=Path, help="folder for plan.png and plan.json")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.set_defaults(handler=_plan)


def _share(option: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r} is not a number") from None
        if not 0 <= value <= 1:
            raise argparse.ArgumentTypeError(f"{option} {value} is not a share between 0 and 1")
        return value

    return parse


def _whole(option: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{option} {value} is not between {low} and {high}")
        return value

    return parse


def _plan(args: argparse.Namespace) -> int:
    from central.capacity.plan import PlanOptions, plan_growth
    from central.sites.network import NetworkFileError, generate_network, load_network

    if args.report is not None and args.report.exists() and not args.report.is_dir():
        print(f"error: --report {args.report} is not a folder", file=sys.stderr)
        return 2
    try:
        network = load_network(args.network) if args.network else generate_network(args.seed)
    except NetworkFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not network.sites:
        print(f"error: {args.network}: the network has no sites", file=sys.stderr)
        return 1
    options = PlanOptions(
        growth=args.growth,
        years=args.years,
        parcels=args.parcels,
        target_fallback=args.target_fallback,
        seed=args.seed,
    )
    started = time.monotonic()
    plans = plan_growth(network, options, lambda line: print(line, file=sys.stderr))
    took = time.monotonic() - started
    document = {
        "options": {
            "growth": options.growth,
            "years": options.years,
            "parcels": options.parcels,
            "target_fallback": options.target_fallback,
            "seed": options.seed,
            "network": str(args.network) if args.network else "generated",
            "sites": len(network.sites),
        },
        "years": [plan.as_dict() for plan in plans],
        "seconds": round(took, 1),
    }
    if args.report is not None:
        try:
            args.report.mkdir(parents=True, exist_ok=True)
            (args.report / "plan.json").write_text(json.dumps(document, indent=1) + "\n")
            _chart(plans, options, args.report / "plan.png")
        except OSError as exc:
            print(f"error: cannot write to --report {args.report}: {exc.strerror}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(document))
    else:
        print_table(plans, options, took)
    if args.report is not None:
        print(f"wrote {args.report / 'plan.png'} and plan.json", file=sys.stderr)
    return 0


def print_table(plans: list[YearPlan], options: PlanOptions, took: float) -> None:
    """The plan as a rich table on stdout, a row per year; `took` in seconds."""
    from rich.console import Console
    from rich.table import Table

    from central.sites.network import SIZE_ORDER

    table = Table(
        title=(
            f"Growth ahead: {options.growth:.0%} a year from {options.parcels:,} parcels a day; "
            f"fallback target {options.target_fallback:.1%}"
        )
    )
    for heading in ("year", "parcels", "fell back", "share", "lockers full", "counters full"):
        table.add_column(heading, justify="right")
    table.add_column("worst towns (fell back)")
    for size in SIZE_ORDER:
        table.add_column(f"+{size.value}", justify="right")
    table.add_column("share with added", justify="right")
    for plan in plans:
        towns = ", ".join(f"{t.town} {t.fallback:,}" for t in plan.worst_towns[:3]) or "-"
        after = f"{plan.share_with_added:.1%}"
        if not plan.target_reached:
            after += f" (not reached: {plan.out_of_reach:,} out of reach)"
        table.add_row(
            str(plan.year),
            f"{plan.parcels:,}",
            f"{plan.fallback:,}",
            f"{plan.fallback_share:.1%}",
            f"{plan.lockers_full:,}",
            f"{plan.counters_full:,}",
            towns,
            *(f"{plan.added[size]:,}" for size in SIZE_ORDER),
            after,
        )
    console = Console(width=max(160, Console().width))
    console.print(table)
    total = plans[-1].added_total
    console.print(
        "Compartments added by the last year (a greedy: where the fallback comes from, "
        "sized by the parcels that fell back): "
        + ", ".join(f"{size.value} {total[size]:,}" for size in SIZE_ORDER)
        + f"; planned in {took:.0f} s"
    )


def _chart(plans: list[YearPlan], options: PlanOptions, path: Path) -> None:
    from matplotlib.figure import Figure

    from central.sites.network import SIZE_ORDER

    years = [plan.year for plan in plans]
    figure = Figure(figsize=(10, 4.5))
    share, added = figure.subplots(1, 2)
    share.plot(years, [100 * p.fallback_share for p in plans], marker="o", label="network today")
    share.plot(
        years,
        [100 * p.share_with_added for p in plans],
        marker="o",
        label="with the added compartments",
    )
    share.axhline(100 * options.target_fallback, linestyle="--", color="grey", label="target")
    share.set_xlabel("year")
    share.set_ylabel("parcels falling back to home delivery (%)")
    share.set_title(f"Fallback at {options.growth:.0%} growth a year")
    share.legend()
    bottom = [0] * len(plans)
    for size in SIZE_ORDER:
        counts = [p.added[size] for p in plans]
        added.bar(years, counts, bottom=bottom, label=size.value)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    added.set_xlabel("year")
    added.set_ylabel("compartments to add that year")
    added.set_title("Compartments to add, by size")
    added.legend(title="size")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
