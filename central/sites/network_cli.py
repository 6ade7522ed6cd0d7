"""`lockernet network generate|manifest`: make a network file and a day's manifest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

# Site ids have four digits (L0001..L9999, C0001..C9999).
MAX_SITES_PER_KIND = 9999
MAX_COURIERS = 99_999
MAX_GENERATED_PARCELS = 2_000_000


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    network = commands.add_parser("network", help="generate a network and parcel manifests")
    sub = network.add_subparsers(dest="network_command", metavar="ACTION", required=True)

    generate = sub.add_parser("generate", help="write a Singapore-like network file (JSON)")
    generate.add_argument("--seed", type=int, required=True, help="same seed, same network")
    generate.add_argument("-o", "--out", type=Path, required=True, help="network file to write")
    generate.add_argument("--lockers", type=_count(MAX_SITES_PER_KIND), default=500)
    generate.add_argument("--counters", type=_count(MAX_SITES_PER_KIND), default=1600)
    generate.add_argument("--couriers", type=_count(MAX_COURIERS), default=600)
    generate.set_defaults(handler=_generate)

    manifest = sub.add_parser("manifest", help="write a day's parcel manifest (.csv or .json)")
    manifest.add_argument("--network", type=Path, required=True, help="network file to read")
    manifest.add_argument("--parcels", type=_count(MAX_GENERATED_PARCELS), required=True)
    manifest.add_argument("--seed", type=int, required=True, help="same seed, same parcels")
    manifest.add_argument(
        "--start",
        type=_moment,
        default=None,
        help="start of the day: Unix seconds or ISO 8601 with zone (default: now)",
    )
    manifest.add_argument("-o", "--out", type=Path, required=True, help=".csv or .json to write")
    manifest.set_defaults(handler=_manifest)


def _count(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 0 <= value <= limit:
            raise argparse.ArgumentTypeError(f"{value} is not between 0 and {limit}")
        return value

    return parse


def _moment(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither Unix seconds nor ISO 8601 (e.g. 2025-03-01T00:00:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. +08:00")
    return moment.timestamp()


def _generate(args: argparse.Namespace) -> int:
    from central.sites.network import generate_network, save_network

    network = generate_network(
        args.seed, lockers=args.lockers, counters=args.counters, couriers=args.couriers
    )
    try:
        save_network(network, args.out)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    compartments = sum(site.total_compartments for site in network.lockers())
    print(
        f"wrote {args.out}: {args.lockers} lockers ({compartments} compartments), "
        f"{args.counters} collection points, {len(network.partners)} partners, "
        f"{args.couriers} couriers",
        file=sys.stderr,
    )
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from central.parcels.manifest import ManifestError, generate_manifest, write_manifest
    from central.sites.network import NetworkFileError, load_network

    if args.out.suffix.lower() not in (".csv", ".json"):
        print(f"error: {args.out}: a manifest is a .csv or .json file", file=sys.stderr)
        return 2
    try:
        network = load_network(args.network)
    except NetworkFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    start = args.start if args.start is not None else datetime.now(UTC).timestamp()
    try:
        parcels = generate_manifest(network, args.parcels, args.seed, start)
        write_manifest(parcels, args.out)
    except (ManifestError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {len(parcels)} parcels", file=sys.stderr)
    return 0
