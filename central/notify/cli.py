"""`lockernet notify`: consumers' opt-outs and the message queue.

    lockernet notify opt-out ADDRESS     # an e-mail address or a phone number: no more
    lockernet notify opt-in ADDRESS      # messages on that channel / take that back
    lockernet notify list [--label L]    # queued messages and how their sending went

Reads central's config (--config, else $LOCKERNET_CENTRAL_CONFIG, else ./central.toml) for
the store; the listing reads through the read path. Exit status: 0 done, 2 bad input
(nothing written).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from central.operator.cli_support import command, configured_reader, configured_store
from protocols.localtime import timestamp

if TYPE_CHECKING:
    from central.store import CentralStore


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet notify` and its actions."""
    notify = commands.add_parser("notify", help="consumers' messages: opt-outs and the queue")
    sub = notify.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    out = sub.add_parser("opt-out", help="no more messages to an e-mail address or phone")
    out.add_argument("address", metavar="EMAIL|PHONE")
    command(out, _opt_out)
    back = sub.add_parser("opt-in", help="messages again to an address that opted out")
    back.add_argument("address", metavar="EMAIL|PHONE")
    command(back, _opt_in)
    listing = sub.add_parser("list", help="queued messages, newest last")
    listing.add_argument("--label", default=None, help="one parcel's messages")
    listing.add_argument("--limit", type=int, default=200)
    command(listing, _list)


def _opt_out(args: argparse.Namespace) -> int:
    from central.notify.optouts import opt_out

    channel, recipient, new = _with_store(
        args, lambda store: opt_out(store, args.address, time.time())
    )
    said = "opted out" if new else "was already opted out"
    print(f"{recipient} {said} of {channel} messages")
    return 0


def _opt_in(args: argparse.Namespace) -> int:
    from central.notify.optouts import opt_in

    channel, recipient, removed = _with_store(args, lambda store: opt_in(store, args.address))
    said = "gets messages again" if removed else "had not opted out"
    print(f"{recipient} {said} ({channel})")
    return 0


def _with_store(
    args: argparse.Namespace, work: Callable[[CentralStore], tuple[str, str, bool]]
) -> tuple[str, str, bool]:
    store = configured_store(args)
    try:
        return work(store)
    finally:
        store.close()


def _list(args: argparse.Namespace) -> int:
    with configured_reader(args) as reader:
        rows = reader.view.notifications(args.label, args.limit)
    for n in rows:
        when = timestamp(n.sent_at or n.failed_at or n.due_at)
        error = f"  ({n.last_error})" if n.last_error and n.status != "sent" else ""
        print(
            f"{n.id:>6}  {n.label:<16} {n.message:<17} {n.channel:<5} {n.status:<7} "
            f"{when}  tries {n.attempts}{error}"
        )
    if not rows:
        print("no messages")
    return 0
