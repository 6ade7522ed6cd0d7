"""`lockernet courier`: couriers' handheld tokens for the handheld API (/api/courier).

    lockernet courier token COURIER --partner PARTNER
    lockernet courier revoke-token TOKEN_ID

A token is printed once, when made, and never again (the store keeps only its hash). Every
command reads central's config (--config, else $LOCKERNET_CENTRAL_CONFIG, else ./central.toml)
for the store. Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from central.store import CentralStore

CONFIG_ENV = "LOCKERNET_CENTRAL_CONFIG"
EXIT_BAD_INPUT = 2

Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet courier` and its actions."""
    courier = commands.add_parser("courier", help="couriers' handheld tokens (home delivery)")
    sub = courier.add_subparsers(dest="courier_command", metavar="ACTION", required=True)
    token = sub.add_parser("token", help="make a handheld token for a courier (printed once)")
    token.add_argument("courier", metavar="COURIER", help="the courier's id (the network file's)")
    token.add_argument("--partner", required=True, help="the delivery partner the courier is of")
    _action(token, _token)
    revoke = sub.add_parser("revoke-token", help="revoke a handheld token at once")
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    _action(revoke, _revoke)


def _action(parser: argparse.ArgumentParser, handler: Handler) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get(CONFIG_ENV, "central.toml")),
        help=f"central's config file (default: ${CONFIG_ENV} or ./central.toml)",
    )
    parser.set_defaults(handler=_guarded(handler))


def _guarded(handler: Handler) -> Handler:
    """Errors a user can act on become one line on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        from central.errors import CentralError

        try:
            return handler(args)
        except CentralError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def _store(args: argparse.Namespace) -> CentralStore:
    from central.service.config import load_config
    from central.store.open import open_store

    return open_store(load_config(args.config).store)


def _token(args: argparse.Namespace) -> int:
    from central.delivery.tokens import issue_token

    store = _store(args)
    try:
        with store.transaction() as session:
            issued = issue_token(session, args.courier, args.partner, time.time())
    finally:
        store.close()
    print(issued.text)
    print(
        f"handheld token {issued.record.token_id} for courier {args.courier} of "
        f"{args.partner}: shown only now; the handheld sends it as "
        "'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from central.delivery.tokens import revoke_token

    store = _store(args)
    try:
        with store.transaction() as session:
            record = revoke_token(session, args.token_id, time.time())
    finally:
        store.close()
    print(f"handheld token {record.token_id} of courier {record.courier} revoked")
    return 0
