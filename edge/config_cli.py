"""`lockernet edge config ...`: write a site.toml template, check a site.toml, and write the
reference of every key.

    lockernet edge config init --family cu16 --boards 2 --layout S=8,M=6,L=2 -o site.toml
    lockernet edge config init --kind counter --shelf-capacity 200 --site C0042 -o site.toml
    lockernet edge config check --config site.toml
    lockernet edge config reference -o docs/site-config.md

Exit status: 0 done, 2 bad input (nothing was written).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from edge.errors import ConfigError

EXIT_BAD_INPUT = 2


def register_config(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `config` and its actions under `lockernet edge`."""
    from protocols.boards import FAMILIES
    from protocols.messages import SiteKind

    config = sub.add_parser("config", help="write, check or document the site's site.toml")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    init = actions.add_parser(
        "init",
        help="write a commented site.toml for a board family and layout",
        description="Writes a site.toml naming every key the agent reads, each with a "
        "comment (what it is, its unit, its default). Merge the broker lines of the bundle "
        "from `lockernet pki issue-site` if they differ.",
    )
    init.add_argument("--site", default="L0001", help="the site id (default L0001)")
    init.add_argument("--kind", choices=[k.value for k in SiteKind], default=SiteKind.LOCKER.value)
    init.add_argument(
        "--family", choices=sorted(f.value for f in FAMILIES), default="cu16",
        help="the lock-board family (default cu16)",
    )  # fmt: skip
    init.add_argument("--boards", type=int, default=1, help="boards on the bus (default 1)")
    init.add_argument(
        "--layout",
        default=None,
        help="one board's compartments in lock order, SIZE=COUNT,... e.g. S=8,M=6,L=2 "
        "(default: every lock M)",
    )
    init.add_argument(
        "--channels", type=int, default=16, help="rs485-8a: channels per board (default 16)"
    )
    init.add_argument("--shelf-capacity", type=int, default=0, help="a counter's shelf places")
    init.add_argument(
        "--broker", default="localhost:8883", help="HOST:PORT of the broker (default TLS 8883)"
    )
    init.add_argument(
        "--lock-port",
        default=None,
        help="the lock boards' serial port, a path or a pyserial URL (default: the usual "
        "USB-RS485 adapter's device)",
    )
    init.add_argument(
        "--scanner-port",
        default=None,
        help="the scanner's serial port, a path or a pyserial URL (default: the usual USB "
        "scanner's device)",
    )
    init.add_argument(
        "--state-dir",
        default=None,
        help="the agent's store folder, relative to the file's folder (default: the "
        "reference's default, left commented)",
    )
    init.add_argument("-o", "--out", type=Path, required=True, help="the file to write")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_init)

    check = actions.add_parser("check", help="load a site.toml as the agent would")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(handler=_check)

    reference = actions.add_parser("reference", help="write the reference of every key")
    reference.add_argument("-o", "--out", type=Path, required=True)
    reference.set_defaults(handler=_reference)


def _broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--broker {text!r} is not HOST:PORT (port 1-65535)")
    return host.strip("[]"), int(port)


def _path(option: str, text: str | None) -> str | None:
    """A path or URL given on the command line (not empty, no control characters); None
    when the option was not given."""
    if text is None:
        return None
    if not text.strip() or any(ord(c) < 32 for c in text):
        raise ConfigError(f"{option} {text!r} is not a path")
    return text


def _command(args: argparse.Namespace) -> str:
    """The init command that writes this file again (for its header)."""
    words = ["lockernet", "edge", "config", "init", "--site", args.site, "--kind", args.kind]
    if args.kind == "counter":
        words += ["--shelf-capacity", str(args.shelf_capacity)]
    else:
        words += ["--family", args.family, "--boards", str(args.boards)]
        if args.layout:
            words += ["--layout", args.layout]
        if args.family == "rs485-8a":
            words += ["--channels", str(args.channels)]
    if args.kind != "counter" and args.lock_port is not None:
        words += ["--lock-port", args.lock_port]
    if args.scanner_port is not None:
        words += ["--scanner-port", args.scanner_port]
    if args.state_dir is not None:
        words += ["--state-dir", args.state_dir]
    return shlex.join([*words, "--broker", args.broker, "-o", str(args.out)])


def _init(args: argparse.Namespace) -> int:
    from edge import config_template
    from protocols.boards import BoardFamily
    from protocols.messages import SiteKind

    try:
        layout = config_template.SiteLayout(
            site=args.site,
            kind=SiteKind(args.kind),
            family=BoardFamily(args.family),
            boards=args.boards,
            sizes=config_template.parse_sizes(args.layout) if args.layout else (),
            channels=args.channels,
            shelf_capacity=args.shelf_capacity,
            broker=_broker(args.broker),
            lock_port=_path("--lock-port", args.lock_port) or config_template.LOCK_BUS_PORT,
            scanner_port=_path("--scanner-port", args.scanner_port) or config_template.SCANNER_PORT,
            state_dir=_path("--state-dir", args.state_dir),
            command=_command(args),
        )
        config_template.write(layout, args.out, force=args.force)
    except ConfigError as exc:
        print(f"lockernet edge config: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"lockernet edge config: {args.out}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    what = (
        f"{len(layout.slots())} slots on {layout.boards} {layout.family.value} board(s)"
        if layout.kind is SiteKind.LOCKER
        else f"a counter of {layout.shelf_capacity} shelf places"
    )
    ports = args.scanner_port is not None and (
        args.lock_port is not None or layout.kind is SiteKind.COUNTER
    )
    print(
        f"wrote {args.out}: {layout.site}, {what}. "
        f"{'Set the broker' if ports else 'Set the serial ports and the broker'}, put the "
        "bundle's ca.pem, site.pem, site.key and central.pub beside it, then "
        f"`lockernet edge config check --config {args.out}`"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from protocols.messages import SiteKind

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"lockernet edge config: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    missing = [
        f"{key} {path}"
        for key, path in (
            ("central_public_key", config.central_public_key),
            ("broker.ca_file", config.broker.ca_file),
            ("broker.cert_file", config.broker.cert_file),
            ("broker.key_file", config.broker.key_file),
        )
        if path is not None and not Path(path).is_file()
    ]
    if config.kind is SiteKind.LOCKER and config.lock_bus is not None:
        boards = config.lock_bus.board_layout()
        what = f"{len(config.slots)} slots on {len(boards)} {config.lock_bus.family} board(s)"
    else:
        what = f"a counter of {config.shelf_capacity} shelf places"
    broker = config.broker
    print(
        f"{args.config}: site {config.site_id}, {what}; broker {broker.host}:{broker.port} "
        f"({'TLS' if broker.tls else 'plain'}); store {config.store_path}"
    )
    if missing:
        print("missing files: " + "; ".join(missing), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _reference(args: argparse.Namespace) -> int:
    from edge.config_reference import reference

    Path(args.out).write_text(reference(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
