"""`lockernet courier`: couriers' handheld tokens for the handheld API (/api/courier).

    lockernet courier token COURIER --partner PARTNER
    lockernet courier revoke-token TOKEN_ID

A token is printed once, when made, and never again (the store keeps only its hash). Every
command reads central's config (--config, else $LOCKERNET_CENTRAL_CONFIG, else ./central.toml)
for the store. Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import sys
import time

from central.operator.cli_support import (
    command,
    configured_store,
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet courier` and its actions."""
    courier = commands.add_parser("courier", help="couriers' handheld tokens (home delivery)")
    sub = courier.add_subparsers(dest="courier_command", metavar="ACTION", required=True)
    token = sub.add_parser("token", help="make a handheld token for a courier (printed once)")
    token.add_argument("courier", metavar="COURIER", help="the courier's id (the network file's)")
    token.add_argument("--partner", required=True, help="the delivery partner the courier is of")
    command(token, _token)
    revoke = sub.add_parser("revoke-token", help="revoke a handheld token at once")
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    command(revoke, _revoke)


def _token(args: argparse.Namespace) -> int:
    from central.delivery.tokens import issue_token

    store = configured_store(args)
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

    store = configured_store(args)
    try:
        with store.transaction() as session:
            record = revoke_token(session, args.token_id, time.time())
    finally:
        store.close()
    print(f"handheld token {record.token_id} of courier {record.courier} revoked")
    return 0
