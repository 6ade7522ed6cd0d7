"""`lockernet badge`: courier badges, issued, listed and revoked.

    lockernet badge issue COURIER --partner P --days N [-o badge.png]
    lockernet badge list [--courier C] [--all]
    lockernet badge revoke BADGE_ID

`issue` prints the badge's scan text (LNB:...) and writes its QR image; the courier shows
either to a site's scanner. `revoke` tells every site to refuse the badge (durable commands,
resent until each site has it); a site that heard it refuses the badge even offline. Every
command reads central's config (--config, else $LOCKERNET_CENTRAL_CONFIG, else
./central.toml). Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from central.operator.cli import _config_option, _guarded, _open_reader, _open_store, _operator

DEFAULT_DAYS = 30.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet badge` and its actions."""
    badge = commands.add_parser("badge", help="courier badges: issue, list, revoke")
    sub = badge.add_subparsers(dest="badge_command", metavar="ACTION", required=True)
    issue = sub.add_parser("issue", help="sign a courier's badge and print its scan text")
    issue.add_argument(
        "courier", metavar="COURIER", help="the courier's id, as the network file has it"
    )
    issue.add_argument(
        "--partner", required=True, help="the courier's delivery partner (network file)"
    )
    issue.add_argument(
        "--days", type=float, default=DEFAULT_DAYS, help=f"valid for (default {DEFAULT_DAYS:g})"
    )
    issue.add_argument("-o", "--out", type=Path, help="also write the badge's QR image (PNG)")
    issue.add_argument("--by", default=None, help="who issues it (default: your login)")
    _config_option(issue)
    issue.set_defaults(handler=_guarded(_issue))
    listing = sub.add_parser("list", help="the badges issued (unrevoked ones by default)")
    listing.add_argument("--courier", help="one courier's badges only")
    listing.add_argument("--all", action="store_true", help="revoked badges too")
    _config_option(listing)
    listing.set_defaults(handler=_guarded(_list))
    revoke = sub.add_parser("revoke", help="revoke a badge at every site")
    revoke.add_argument("badge_id", metavar="BADGE_ID", help="as `badge list` shows it")
    revoke.add_argument("--by", default=None, help="who revokes it (default: your login)")
    _config_option(revoke)
    revoke.set_defaults(handler=_guarded(_revoke))


def _issue(args: argparse.Namespace) -> int:
    from central.operator.badges import issue_badge, render_badge_png
    from central.service.loading import load_configured_network, load_signer
    from protocols.localtime import day_and_time

    config, store = _open_store(args)
    try:
        issued = issue_badge(
            store,
            load_signer(config),
            courier=args.courier,
            partner=args.partner,
            days=args.days,
            actor=args.by or _operator(),
            now=time.time(),
            network=load_configured_network(config),
        )
    finally:
        store.close()
    record = issued.record
    print(
        f"badge {record.badge_id} for {record.courier} ({record.partner}), valid until "
        f"{day_and_time(record.valid_until)}"
    )
    if args.out is not None:
        out: Path = args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(render_badge_png(issued))
        print(f"wrote {out}")
    print(issued.text)
    return 0


def _list(args: argparse.Namespace) -> int:
    from central.operator.badges import list_badges
    from central.operator.console import console, table
    from protocols.localtime import day_and_time

    with _open_reader(args) as reader:
        found = list_badges(reader.view, include_revoked=args.all, courier=args.courier)
    now = time.time()
    grid = table("badge", "courier", "partner", "valid until", "issued by", "state")
    for badge in found:
        if badge.revoked_at is not None:
            state = f"revoked {day_and_time(badge.revoked_at)} by {badge.revoked_by}"
        else:
            state = "expired" if badge.valid_until <= now else "valid"
        grid.add_row(
            badge.badge_id,
            badge.courier,
            badge.partner,
            day_and_time(badge.valid_until),
            badge.issued_by,
            state,
        )
    out = console()
    out.print(grid if found else "no badges")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from central.operator.badges import revoke_badge

    _, store = _open_store(args)
    try:
        record = revoke_badge(
            store, badge_id=args.badge_id, actor=args.by or _operator(), now=time.time()
        )
    finally:
        store.close()
    print(
        f"badge {record.badge_id} of {record.courier} ({record.partner}) revoked; every site "
        "is being told to refuse it"
    )
    return 0
