"""The `lockernet` command: one dispatcher, subcommands registered by each part.

edge, central and hw_sim each register their subcommands through the entry-point group
"lockernet.commands", so this dispatcher never imports them by name and a device that has
only some parts installed gets only their commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "lockernet.commands"
Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or only `command`'s part when it names an entry point (each
    registers the command of its own name): `lockernet edge run` on a device then imports
    none of central's or the simulator's modules (~4 MiB resident, docs/edge.md)."""
    parser = argparse.ArgumentParser(
        prog="lockernet", description="lockernet: the controller of a parcel locker network"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    entries = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    if any(entry.name == command for entry in entries):
        entries = [entry for entry in entries if entry.name == command]
    for entry in entries:
        register: Register = entry.load()
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(args_in[0] if args_in else None)
    args = parser.parse_args(args_in)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a reader gone (a closed pipe) shows here, not at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lockernet track X | head -1`: the reader took what it wanted and left. Quietly
        # done; stdout is pointed at devnull so the interpreter's own flush at exit does not
        # fail again (the recipe in the Python docs' `signal` module notes on SIGPIPE).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except SystemExit as exc:
        # rich's console follows the same recipe itself, then exits 1: the same case, done.
        if isinstance(exc.__context__, BrokenPipeError):
            return 0
        raise


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    protocol = commands.add_parser("protocol", help="the wire contract")
    sub = protocol.add_subparsers(dest="protocol_command", metavar="ACTION", required=True)
    schema = sub.add_parser(
        "schema", help="write the JSON Schema of every message and the AsyncAPI document"
    )
    schema.add_argument("--out", type=Path, required=True, help="folder to write into")
    schema.set_defaults(handler=_write_schema)


def write_contract(out: Path) -> list[Path]:
    """Write docs of the contract into `out`; returns the files written."""
    from protocols.contract import asyncapi_document, json_schemas

    written: list[Path] = []
    schema_dir = out / "schemas"
    schema_dir.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        path = schema_dir / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        written.append(path)
    path = out / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document(), indent=2) + "\n")
    written.append(path)
    return written


def _write_schema(args: argparse.Namespace) -> int:
    written = write_contract(args.out)
    print(f"wrote {len(written)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
