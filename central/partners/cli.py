"""`lockernet partner`: delivery partners, their API keys and webhook endpoints.

    lockernet partner add ID --name NAME [--ranges EE*SG,RR*CN,LP1234]
    lockernet partner ranges ID [--add RANGES] [--remove RANGES]
    lockernet partner reassign LABEL --to ID
    lockernet partner key ID --scopes parcels:write,parcels:read,webhooks:manage
    lockernet partner keys ID
    lockernet partner revoke-key KEY_ID
    lockernet partner webhook add ID URL [--events parcel.ready_for_pickup,...]
    lockernet partner webhook list ID
    lockernet partner webhook remove ID ENDPOINT
    lockernet partner webhook deliveries ID
    lockernet partner webhook retry ID [--endpoint N]

A key and a webhook's signing secret are printed once, when made, and never again (the
store keeps only the key's hash). Every command reads central's config (--config, else
$LOCKERNET_CENTRAL_CONFIG, else ./central.toml) for the store; the listings read through
the read path. Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from central.operator.cli_support import (
    command,
    configured_reader,
    configured_store,
)
from protocols.localtime import timestamp

if TYPE_CHECKING:
    from central.store.queries.partners import LabelRangeRecord

DELIVERIES_SHOWN = 50
RANGES_HELP = (
    "comma-separated label ranges only this partner announces: S10 service indicator and "
    "country (EE*SG) or a label prefix (LP1234)"
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet partner` and its actions."""
    partner = commands.add_parser("partner", help="delivery partners: API keys and webhooks")
    sub = partner.add_subparsers(dest="partner_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a partner")
    add.add_argument("partner", metavar="ID")
    add.add_argument("--name", required=True, help="the partner's name, for people")
    add.add_argument("--ranges", help=RANGES_HELP)
    command(add, _add)
    ranges = sub.add_parser("ranges", help="the labels only this partner announces")
    ranges.add_argument("partner", metavar="ID")
    ranges.add_argument("--add", help=RANGES_HELP)
    ranges.add_argument("--remove", help="comma-separated ranges to remove")
    command(ranges, _ranges)
    reassign = sub.add_parser("reassign", help="move a parcel to its rightful owner (audited)")
    reassign.add_argument("label", metavar="LABEL")
    reassign.add_argument("--to", required=True, metavar="ID", help="the partner that owns it")
    command(reassign, _reassign)
    key = sub.add_parser("key", help="make an API key (printed once)")
    key.add_argument("partner", metavar="ID")
    key.add_argument(
        "--scopes",
        required=True,
        help="comma-separated: parcels:write, parcels:read, webhooks:manage",
    )
    command(key, _key)
    keys = sub.add_parser("keys", help="a partner's API keys (never their secrets)")
    keys.add_argument("partner", metavar="ID")
    command(keys, _keys)
    revoke = sub.add_parser("revoke-key", help="revoke an API key at once")
    revoke.add_argument("key_id", metavar="KEY_ID")
    command(revoke, _revoke)
    webhook = sub.add_parser("webhook", help="a partner's webhook endpoints")
    hooks = webhook.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)
    hook_add = hooks.add_parser("add", help="add an endpoint (its signing secret printed once)")
    hook_add.add_argument("partner", metavar="ID")
    hook_add.add_argument("url", metavar="URL")
    hook_add.add_argument("--events", default="", help="comma-separated types (default: all)")
    command(hook_add, _webhook_add)
    hook_list = hooks.add_parser("list", help="the partner's endpoints")
    hook_list.add_argument("partner", metavar="ID")
    command(hook_list, _webhook_list)
    hook_remove = hooks.add_parser("remove", help="remove an endpoint; its pending deliveries end")
    hook_remove.add_argument("partner", metavar="ID")
    hook_remove.add_argument("endpoint", metavar="ENDPOINT", type=int)
    command(hook_remove, _webhook_remove)
    hook_retry = hooks.add_parser(
        "retry", help="send again what was given up (once the receiver is fixed)"
    )
    hook_retry.add_argument("partner", metavar="ID")
    hook_retry.add_argument("--endpoint", type=int, help="only this endpoint (default: all)")
    command(hook_retry, _webhook_retry)
    hook_deliveries = hooks.add_parser(
        "deliveries", help="the newest deliveries: pending, delivered or failed"
    )
    hook_deliveries.add_argument("partner", metavar="ID")
    hook_deliveries.add_argument("--limit", type=int, default=DELIVERIES_SHOWN)
    command(hook_deliveries, _webhook_deliveries)


def _when(unix_s: float | None) -> str:
    """A time as the person at the terminal reads it: the network's local time, labelled
    ("2026-11-30 18:00:05 SGT"); the API's answers stay ISO 8601 UTC."""
    if unix_s is None:
        return "-"
    return timestamp(unix_s)


def _add(args: argparse.Namespace) -> int:
    from central.partners.keys import add_partner
    from central.partners.label_ranges import parse_ranges
    from central.partners.ownership import add_ranges, squatted

    ranges = None if args.ranges is None else parse_ranges(args.ranges)
    store = configured_store(args)
    try:
        with store.transaction() as session:
            record = add_partner(session, args.partner, args.name, time.time())
            held = []
            others: list[tuple[str, str]] = []
            if ranges is not None:
                held = add_ranges(session, record.partner, ranges, record.created_at)
                others = squatted(session, record.partner, ranges)
    finally:
        store.close()
    print(f"partner {record.partner} ({record.name}) added")
    if ranges is not None:
        _print_ranges(record.partner, held, others)
    print(f"next: lockernet partner key {record.partner} --scopes parcels:write,parcels:read")
    return 0


def _ranges(args: argparse.Namespace) -> int:
    from central.partners.keys import known_partner
    from central.partners.label_ranges import LabelRange, parse_ranges
    from central.partners.ownership import add_ranges, remove_ranges, squatted

    adding = None if args.add is None else parse_ranges(args.add)
    removing = None if args.remove is None else parse_ranges(args.remove)
    store = configured_store(args)
    try:
        with store.transaction() as session:
            if removing is not None:
                remove_ranges(session, args.partner, removing)
            if adding is not None:
                add_ranges(session, args.partner, adding, time.time())
            known_partner(session, args.partner)
            held = session.label_ranges(args.partner)
            others = squatted(session, args.partner, [LabelRange.parse(r.pattern) for r in held])
    finally:
        store.close()
    _print_ranges(args.partner, held, others)
    return 0


def _print_ranges(
    partner: str, held: list[LabelRangeRecord], others: list[tuple[str, str]]
) -> None:
    """A partner's ranges, and the parcels other partners announced inside them."""
    from central.operator.console import console, table

    if not held:
        print(
            f"partner {partner} has no label ranges: it announces any label that is in no "
            "other partner's range"
        )
        return
    lines = table("range", "since")
    for record in held:
        lines.add_row(record.pattern, _when(record.added_at))
    console().print(lines)
    if others:
        print(
            f"parcels in these ranges that other partners announced (lockernet partner "
            f"reassign LABEL --to {partner} moves one):"
        )
        for label, owner in others:
            print(f"  {label}  partner {owner}")


def _reassign(args: argparse.Namespace) -> int:
    import getpass

    from central.partners.ownership import reassign

    try:
        actor = getpass.getuser()
    except (KeyError, OSError):
        actor = "operator"
    store = configured_store(args)
    try:
        with store.transaction() as session:
            moved = reassign(session, args.label, args.to, actor, time.time())
    finally:
        store.close()
    print(
        f"parcel {moved.label} moved from {moved.before or '(no partner)'} to {moved.after} "
        f"(audit entry {moved.audit_id}); its tracking and later webhooks are {moved.after}'s"
    )
    return 0


def _key(args: argparse.Namespace) -> int:
    from central.partners.keys import issue_key, parse_scopes

    scopes = parse_scopes(args.scopes)
    store = configured_store(args)
    try:
        with store.transaction() as session:
            issued = issue_key(session, args.partner, scopes, time.time())
    finally:
        store.close()
    print(issued.text)
    print(
        f"key {issued.record.key_id} for {args.partner}, scopes {','.join(issued.record.scopes)}"
        ": shown only now; send it as 'Authorization: Bearer <key>'",
        file=sys.stderr,
    )
    return 0


def _keys(args: argparse.Namespace) -> int:
    from central.operator.console import console, table
    from central.partners.keys import known_partner

    with configured_reader(args) as reader:
        known_partner(reader.view, args.partner)
        keys = reader.view.partner_keys(args.partner)
    lines = table("key id", "scopes", "created", "last used", "revoked")
    for key in keys:
        lines.add_row(
            key.key_id,
            ",".join(key.scopes),
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
    console().print(lines if keys else f"partner {args.partner} has no API keys")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from central.partners.keys import revoke_key

    store = configured_store(args)
    try:
        with store.transaction() as session:
            record = revoke_key(session, args.key_id, time.time())
    finally:
        store.close()
    print(f"key {record.key_id} of {record.partner} revoked: its next request gets 401")
    return 0


def _webhook_add(args: argparse.Namespace) -> int:
    from central.partners.endpoints import add_endpoint

    store = configured_store(args)
    try:
        with store.transaction() as session:
            added = add_endpoint(
                session, args.partner, args.url, args.events.split(","), time.time()
            )
    finally:
        store.close()
    record = added.record
    print(record.secret)
    print(
        f"endpoint {record.id} of {record.partner}: {record.url} "
        f"({','.join(record.event_types) or 'every event type'}); the signing secret above "
        "is shown only now",
        file=sys.stderr,
    )
    return 0


def _webhook_list(args: argparse.Namespace) -> int:
    from central.operator.console import console, table
    from central.partners.keys import known_partner

    with configured_reader(args) as reader:
        known_partner(reader.view, args.partner)
        endpoints = reader.view.webhook_endpoints(args.partner, include_disabled=True)
    lines = table("id", "url", "events", "created", "removed", numeric=("id",))
    for e in endpoints:
        events = ",".join(e.event_types) or "all"
        lines.add_row(str(e.id), e.url, events, _when(e.created_at), _when(e.disabled_at))
    console().print(lines if endpoints else f"partner {args.partner} has no webhook endpoints")
    return 0


def _webhook_remove(args: argparse.Namespace) -> int:
    from central.errors import CentralError
    from central.partners.endpoints import remove_endpoint

    store = configured_store(args)
    try:
        with store.transaction() as session:
            removed = remove_endpoint(session, args.partner, args.endpoint, time.time())
    finally:
        store.close()
    if not removed:
        raise CentralError(f"partner {args.partner} has no active webhook endpoint {args.endpoint}")
    print(f"endpoint {args.endpoint} of {args.partner} removed")
    return 0


def _webhook_retry(args: argparse.Namespace) -> int:
    from central.partners.endpoints import retry_failed

    store = configured_store(args)
    try:
        with store.transaction() as session:
            count = retry_failed(session, args.partner, time.time(), args.endpoint)
    finally:
        store.close()
    print(f"{count} failed deliveries of {args.partner} due again now")
    return 0


def _webhook_deliveries(args: argparse.Namespace) -> int:
    from central.operator.console import console, table
    from central.partners.endpoints import deliveries
    from central.partners.keys import known_partner

    with configured_reader(args) as reader:
        known_partner(reader.view, args.partner)
        shown = deliveries(reader.view, args.partner, args.limit)
    lines = table(
        "endpoint", "message id", "type", "status", "attempts", "next / done", "last error"
    )
    for d in shown:
        done = d.delivered_at or d.failed_at
        lines.add_row(
            str(d.endpoint),
            d.message_id,
            d.event_type,
            d.status,
            str(d.attempts),
            _when(done if done is not None else d.next_attempt_at),
            (d.last_error or "")[:80],
        )
    console().print(lines if shown else f"no webhook deliveries for {args.partner} yet")
    return 0
