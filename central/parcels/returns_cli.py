"""`lockernet returns`: consumers' return labels, issued, listed and received back.

    lockernet returns issue LABEL --partner P --size S [--site S] [--days N]
                            [--return-of L] [-o label.png]
    lockernet returns list [--partner P]
    lockernet returns receive LABEL

`issue` prints the label's scan text (LNR:...) and its short form, and writes its QR image:
the consumer shows it to a locker's scanner (or a counter's staff scan it). `receive` is the
partner's confirmation that the return is back with them, for a partner without the partner
API. Every command reads central's config (--config, else $LOCKERNET_CENTRAL_CONFIG, else
./central.toml). Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from central.operator.cli import _config_option, _guarded, _open_reader, _open_store, _operator


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet returns` and its actions."""
    from central.parcels.returns import DEFAULT_VALID_DAYS

    returns = commands.add_parser("returns", help="consumers' returns: issue, list, receive")
    sub = returns.add_subparsers(dest="returns_command", metavar="ACTION", required=True)
    issue = sub.add_parser("issue", help="sign a return label and print its scan text")
    issue.add_argument("label", metavar="LABEL", help="the return parcel's own label")
    issue.add_argument("--partner", required=True, help="the partner it goes back to")
    issue.add_argument("--size", required=True, help="its compartment size: S, M, L or XL")
    issue.add_argument("--site", default=None, help="the one site it may go to (default: any)")
    issue.add_argument(
        "--days",
        type=float,
        default=DEFAULT_VALID_DAYS,
        help=f"valid for (default {DEFAULT_VALID_DAYS:g})",
    )
    issue.add_argument("--return-of", default=None, help="the delivered parcel it sends back")
    issue.add_argument("-o", "--out", type=Path, help="also write the label's QR image (PNG)")
    _config_option(issue)
    issue.set_defaults(handler=_guarded(_issue))
    listing = sub.add_parser("list", help="the return labels issued and where each stands")
    listing.add_argument("--partner", help="one partner's returns only")
    _config_option(listing)
    listing.set_defaults(handler=_guarded(_list))
    receive = sub.add_parser("receive", help="the partner has the return back")
    receive.add_argument("label", metavar="LABEL")
    receive.add_argument("--by", default=None, help="who confirms it (default: your login)")
    _config_option(receive)
    receive.set_defaults(handler=_guarded(_receive))


def _issue(args: argparse.Namespace) -> int:
    import qrcode

    from central.parcels.returns import issue_return
    from central.parcels.steps import operator_source
    from central.service.loading import load_signer
    from protocols.localtime import day_and_time

    config, store = _open_store(args)
    try:
        with store.transaction() as session:
            issued = issue_return(
                session,
                load_signer(config),
                label=args.label,
                partner=args.partner,
                size=args.size.upper(),
                site=args.site,
                now=time.time(),
                return_of=args.return_of,
                days=args.days,
                source=operator_source(_operator()),
            )
    finally:
        store.close()
    record = issued.record
    print(
        f"return {record.return_id}: {record.label} back to {record.partner}, size "
        f"{record.size}, at {record.site or 'any site'}, until {day_and_time(record.expires_at)}"
    )
    if args.out is not None:
        out: Path = args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        qrcode.make(issued.text).save(out)
        print(f"wrote {out}")
    print(f"short form {issued.code}")
    print(issued.text)
    return 0


def _list(args: argparse.Namespace) -> int:
    from central.operator.console import console, table
    from protocols.localtime import day_and_time

    with _open_reader(args) as reader:
        found = reader.view.list_return_labels(args.partner)
        states = {r.label: reader.view.get_parcel(r.label) for r in found}
    grid = table("return", "label", "partner", "size", "site", "state", "dropped off", "receipt")
    for record in found:
        parcel = states[record.label]
        dropped = (
            f"{day_and_time(record.dropped_at)} at {record.dropped_site} {record.dropped_slot}"
            if record.dropped_at is not None
            else "-"
        )
        grid.add_row(
            record.return_id,
            record.label,
            record.partner,
            record.size,
            record.site or "any",
            parcel.state if parcel is not None and parcel.state else "-",
            dropped,
            record.receipt or "-",
        )
    console().print(grid if found else "no returns")
    return 0


def _receive(args: argparse.Namespace) -> int:
    from central.parcels.returns import receive_return
    from central.parcels.steps import operator_source

    _, store = _open_store(args)
    try:
        with store.transaction() as session:
            record = receive_return(
                session,
                args.label.strip().upper(),
                partner=None,
                source=operator_source(args.by or _operator()),
                now=time.time(),
            )
    finally:
        store.close()
    print(f"return {record.label} is back with {record.partner}")
    return 0
