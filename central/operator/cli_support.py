"""What every central command module shares: `--config`, one line for an error a user can
act on, and the configured store or its read path.

The operator's main commands (central/operator/cli.py) map more errors to their own exit
statuses; the smaller command modules (partners, couriers, notifications) use these.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from central.store import CentralStore
    from central.store.read import StoreReader

CONFIG_ENV = "LOCKERNET_CENTRAL_CONFIG"
EXIT_BAD_INPUT = 2

Handler = Callable[[argparse.Namespace], int]


def command(parser: argparse.ArgumentParser, handler: Handler) -> None:
    """Give `parser` the `--config` option (default: $LOCKERNET_CENTRAL_CONFIG or
    ./central.toml) and run `handler` guarded: a CentralError is one line on stderr and
    exit status 2, never a traceback."""
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get(CONFIG_ENV, "central.toml")),
        help=f"central's config file (default: ${CONFIG_ENV} or ./central.toml)",
    )
    parser.set_defaults(handler=guarded(handler))


def guarded(handler: Handler) -> Handler:
    """`handler`, with errors a user can act on (CentralError) as one line and status 2."""

    def run(args: argparse.Namespace) -> int:
        from central.errors import CentralError

        try:
            return handler(args)
        except CentralError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def configured_store(args: argparse.Namespace) -> CentralStore:
    """The store `args.config` names (ConfigError for a bad config file)."""
    from central.service.config import load_config
    from central.store.open import open_store

    return open_store(load_config(args.config).store)


def configured_reader(args: argparse.Namespace) -> StoreReader:
    """A read-only snapshot of that store: a listing never waits for (or holds up) ingest."""
    from central.service.config import load_config
    from central.store.open import open_reader, store_location

    return open_reader(store_location(load_config(args.config).store))
