"""Central's operator commands, registered on the `lockernet` dispatcher.

    lockernet central run --config central.toml      the service (systemd runs this)
    lockernet central keygen --out central-signing-key.pem
    lockernet central status                          every central process: alive or gone
    lockernet central api [--listen HOST:PORT]        the HTTP API and console, beside central
    lockernet central openapi --out FILE              the HTTP API's OpenAPI document
    lockernet parcels import manifest.csv|json [--partner ID]   announce, place, reserve, assign
    lockernet parcels events feed.csv|json           record cross-border milestones
    lockernet track LABEL                             a parcel's timeline (no contact details)
    lockernet qr show LABEL -o code.png               the current pickup code, unchanged
    lockernet qr reissue LABEL -o code.png            a new pickup code, revoking the old
    lockernet diag SITE                               a site's diagnostic report, over MQTT
    lockernet fleet [--state S] [--kind K] [--sort problems] [--site X]
                                                      the network at a glance, or one site
    lockernet alarms [--ack ID]                       open alarms; acknowledge one

Every command reads the same config file (--config, else $LOCKERNET_CENTRAL_CONFIG, else
./central.toml). Exit status: 0 done, 1 the network or a site failed us, 2 bad input.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from central.store.read import StoreReader

CONFIG_ENV = "LOCKERNET_CENTRAL_CONFIG"
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
ANNOUNCE_CHUNK = 2000
# `central status` waits this long for the broker's retained central status, by default.
STATUS_BROKER_WAIT_S = 2.0

Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    central = commands.add_parser("central", help="the central assigner service")
    sub = central.add_subparsers(dest="central_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run the central service")
    _config_option(run)
    run.set_defaults(handler=_guarded(_run))
    keygen = sub.add_parser("keygen", help="make central's Ed25519 signing key")
    keygen.add_argument("--out", type=Path, required=True, help="private key file (PEM)")
    keygen.add_argument("--public", type=Path, help="also write the public key for sites")
    keygen.set_defaults(handler=_guarded(_keygen))
    api = sub.add_parser("api", help="serve the operator API, console and tracking alone")
    api.add_argument("--listen", help="HOST:PORT (default: [api] listen, else 127.0.0.1:8080)")
    _config_option(api)
    api.set_defaults(handler=_guarded(_api))
    openapi = sub.add_parser("openapi", help="write the HTTP API's OpenAPI document")
    openapi.add_argument("--out", type=Path, required=True, help="JSON file to write")
    openapi.set_defaults(handler=_guarded(_openapi))
    status = sub.add_parser("status", help="every central process on the store, alive or gone")
    status.add_argument(
        "--broker-wait",
        type=float,
        default=STATUS_BROKER_WAIT_S,
        metavar="S",
        help="seconds to wait for the broker's retained central status (0: do not ask)",
    )
    _config_option(status)
    status.set_defaults(handler=_guarded(_central_status))

    parcels = commands.add_parser("parcels", help="parcel manifests")
    parcel_sub = parcels.add_subparsers(dest="parcels_command", metavar="ACTION", required=True)
    import_ = parcel_sub.add_parser("import", help="announce a manifest's parcels and place them")
    import_.add_argument("manifest", type=Path, help="manifest file, .csv or .json")
    import_.add_argument(
        "--partner", metavar="ID", help="the partner's parcels (its label ranges are checked)"
    )
    _config_option(import_)
    import_.set_defaults(handler=_guarded(_import))
    _register_events(parcel_sub)

    track = commands.add_parser("track", help="a parcel's timeline")
    track.add_argument("label", help="shipping label id")
    _config_option(track)
    track.set_defaults(handler=_guarded(_track))

    qr = commands.add_parser(
        "qr", help="a parcel's pickup code: show the current one, or reissue (revoking it)"
    )
    # A plain positional rather than subcommands, so the old form `qr LABEL -o FILE` (which
    # reissued) gets an error saying what to type now, not argparse's list of choices.
    qr.add_argument("action", metavar="ACTION", help="show | reissue")
    qr.add_argument("label", nargs="?", help="shipping label id")
    qr.add_argument("-o", "--out", type=Path, required=True, help="PNG file to write")
    _config_option(qr)
    qr.set_defaults(handler=_guarded(_qr))

    diag = commands.add_parser("diag", help="run a site's diagnostics remotely and print them")
    diag.add_argument("site", help="site id")
    diag.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for a reply (default: commands.reply_timeout_s, 30)",
    )
    diag.add_argument("--json", action="store_true", help="print the raw report as JSON")
    _config_option(diag)
    diag.set_defaults(handler=_guarded(_diag))

    _register_fleet(commands)

    alarms = commands.add_parser("alarms", help="open alarms, and acknowledging one")
    alarms.add_argument("--ack", type=int, metavar="ID", help="acknowledge alarm ID")
    alarms.add_argument("--by", default=None, help="who acknowledges (default: your login)")
    _config_option(alarms)
    alarms.set_defaults(handler=_guarded(_alarms))


def _register_fleet(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = commands.add_parser("fleet", help="the network at a glance, or one site in detail")
    fleet.add_argument("--limit", type=int, default=50, help="sites listed (0: all)")
    fleet.add_argument(
        "--state",
        choices=["online", "offline", "full", "alarms", "never"],
        help="only sites online, offline, full, with open alarms, or never heard from",
    )
    fleet.add_argument("--kind", choices=["locker", "counter"], help="only this kind of site")
    fleet.add_argument(
        "--sort",
        choices=["id", "problems"],
        default="id",
        help="by id (default), or problems first: open alarms, offline, faults",
    )
    fleet.add_argument(
        "--site",
        metavar="X",
        help="one site in detail: slots by state, faults, alarms, refused scans, last heard",
    )
    _config_option(fleet)
    fleet.set_defaults(handler=_guarded(_fleet))


def _register_events(parcel_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = parcel_sub.add_parser(
        "events", help="record a milestone feed (.csv or .json): good rows, bad rows listed"
    )
    events.add_argument("feed", type=Path, help="milestone feed file, .csv or .json")
    _config_option(events)
    events.set_defaults(handler=_guarded(_events))


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get(CONFIG_ENV, "central.toml")),
        help=f"central's config file (default: ${CONFIG_ENV} or ./central.toml)",
    )


def _guarded(handler: Handler) -> Handler:
    """Errors a user can act on become one line on stderr and an exit status, no traceback."""

    def run(args: argparse.Namespace) -> int:
        from central.errors import CentralError, CommandFailed, ConfigError
        from central.parcels.manifest import ManifestError
        from central.service.link import LinkError
        from central.sites.network import NetworkFileError

        try:
            return handler(args)
        except (CommandFailed, LinkError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except (ConfigError, CentralError, ManifestError, NetworkFileError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


# ------------------------------------------------------------------------------ handlers


def _run(args: argparse.Namespace) -> int:
    from central.service.config import load_config
    from central.service.service import CentralService
    from protocols.logs import configure_logging

    config = load_config(args.config)
    configure_logging(config.service.log_level, config.service.log_format)
    return CentralService(config).run_forever()


def _api(args: argparse.Namespace) -> int:
    from central.service.config import load_config
    from central.service.loading import load_signer
    from central.store.open import open_store
    from central.web.app import create_app
    from central.web.serve import ApiServer, linked_request, web_context
    from protocols.clock import SystemClock
    from protocols.logs import configure_logging

    config = load_config(args.config)
    configure_logging(config.service.log_level, config.service.log_format)
    listen = args.listen or config.api.listen or "127.0.0.1:8080"
    signer = load_signer(config)
    store = open_store(config.store)
    try:
        ctx = web_context(
            config, store, signer, SystemClock(), linked_request(config, store, signer)
        )
        server = ApiServer(create_app(ctx), listen)
        print(f"serving the operator API on http://{listen}/api (Ctrl-C stops)", flush=True)
        server.run()
    finally:
        store.close()
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from central.web.openapi import write_openapi

    write_openapi(args.out)
    print(f"wrote {args.out}")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from protocols.tokens import TokenSigner

    out: Path = args.out
    if out.exists():
        print(f"error: {out} exists; central's key is never overwritten", file=sys.stderr)
        return EXIT_BAD_INPUT
    signer = TokenSigner.generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(signer.private_pem())
    if args.public is not None:
        args.public.write_bytes(signer.verifier().public_pem())
    print(f"wrote {out}" + (f" and {args.public}" if args.public else ""))
    return 0


def _import(args: argparse.Namespace) -> int:
    import logging

    from central.capacity.placement import PlacementPolicy
    from central.capacity.reservations import Reservations
    from central.operator.console import console
    from central.operator.parcels import render_announced, render_placed
    from central.parcels.imports import log_import
    from central.parcels.manifest import read_manifest
    from central.parcels.steps import announce
    from central.partners.ownership import import_check
    from central.service.config import load_config
    from central.service.loading import load_configured_network
    from central.sites import registry
    from central.store.open import open_store
    from protocols.logs import configure_logging

    config = load_config(args.config)
    if not logging.getLogger().handlers:  # (a caller that set logging up keeps its own)
        configure_logging(config.service.log_level, config.service.log_format)
    label_check = None if args.partner is None else import_check(config.store, args.partner)
    # All validated before anything is written.
    parcels = read_manifest(args.manifest, label_check=label_check)
    network = load_configured_network(config)
    store = open_store(config.store)
    out = console()
    try:
        now = time.time()
        new: list[str] = []
        for start in range(0, len(parcels), ANNOUNCE_CHUNK):
            with store.transaction() as session:
                for parcel in parcels[start : start + ANNOUNCE_CHUNK]:
                    if announce(session, parcel, now, owner=args.partner) is not None:
                        new.append(parcel.label)
        out.print(render_announced(len(new), len(parcels) - len(new)))
        by, known = f"operator {_operator()}", len(parcels) - len(new)
        if network is None:
            log_import(by=by, source=args.manifest.name, new=len(new), known=known, placed=None)
            out.print(
                "no network.file configured: parcels stay announced until central places them"
            )
            return 0
        with store.transaction() as session:
            registry.load_network(session, network)  # capacity is read from the registry
        reservations = Reservations(
            store,
            network,
            config.reservations.hold_s,
            PlacementPolicy(max_locker_distance_km=config.reservations.max_locker_distance_km),
        )
        wave = reservations.place(new, now)
        log_import(by=by, source=args.manifest.name, new=len(new), known=known, placed=wave.placed)
        out.print(render_placed(wave))
    finally:
        store.close()
    return 0


def _events(args: argparse.Namespace) -> int:
    from central.operator.events import describe_outcome
    from central.parcels.milestone_feed import record_feed

    store = _open_store(args)[1]
    try:
        outcome = record_feed(store, args.feed, time.time())
    finally:
        store.close()
    summary, errors = describe_outcome(args.feed, outcome)
    print(summary)
    for line in errors:
        print(line, file=sys.stderr)
    return EXIT_BAD_INPUT if errors else 0


def _open_store(args: argparse.Namespace) -> Any:
    from central.service.config import load_config
    from central.store.open import open_store

    config = load_config(args.config)
    return config, open_store(config.store)


def _open_reader(args: argparse.Namespace) -> StoreReader:
    """A read-only snapshot of the store: a report never waits for (or holds up) ingest."""
    from central.service.config import load_config
    from central.store.open import open_reader, store_location

    return open_reader(store_location(load_config(args.config).store))


def _track(args: argparse.Namespace) -> int:
    from central.operator.console import console
    from central.operator.track import render_timeline, timeline
    from protocols.errors import LabelError
    from protocols.labels import parse_label

    try:
        label = parse_label(args.label).id
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with _open_reader(args) as reader:
        view = timeline(reader.view, label)
    console().print(render_timeline(view))
    return 0


QR_ACTIONS = ("show", "reissue")


def _qr(args: argparse.Namespace) -> int:
    from central.notify.code_links import code_links
    from central.parcels.pickup import FolderReminders, PickupFollowUps
    from central.parcels.pickup_codes import FolderNotifier, render_qr_png
    from central.parcels.steps import operator_source
    from central.service.loading import load_signer
    from protocols.errors import LabelError
    from protocols.labels import parse_label

    if args.action not in QR_ACTIONS or args.label is None:
        print(
            "error: lockernet qr needs an action: `lockernet qr show LABEL -o code.png` writes "
            "the parcel's current code (nothing changes); `lockernet qr reissue LABEL -o "
            "code.png` makes a new one and revokes the old",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        label = parse_label(args.label).id
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.action == "show":
        return _qr_show(args, label)
    config, store = _open_store(args)
    try:
        signer = load_signer(config)
        folder = config.pickup.notify_folder
        followups = PickupFollowUps(
            store,
            signer,
            FolderNotifier(folder),
            FolderReminders(folder),
            links=code_links(config.notify),
        )
        issued = followups.reissue(label, time.time(), operator_source(_operator()))
    finally:
        store.close()
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render_qr_png(issued))
    # The short form is printed for the operator to pass on; the code itself is in the image.
    print(
        f"wrote {out}: new pickup code for {label} at {issued.site}, short form "
        f"{issued.short_form}; older codes are being revoked at the site"
    )
    return 0


def _qr_show(args: argparse.Namespace, label: str) -> int:
    from central.operator.qr import current_code
    from central.parcels.pickup_codes import render_qr_png
    from central.service.config import load_config
    from central.service.loading import load_signer
    from central.store.open import open_reader, store_location
    from protocols.localtime import timestamp

    config = load_config(args.config)
    signer = load_signer(config)
    with open_reader(store_location(config.store)) as reader:
        issued = current_code(reader.view, signer, label, time.time())
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render_qr_png(issued))
    print(
        f"wrote {out}: the current pickup code for {label} at {issued.site}, short form "
        f"{issued.short_form}, valid until {timestamp(issued.expires_at)} (unchanged)"
    )
    print(issued.text)  # the text the QR code holds, for a scanner fed by hand
    return 0


def _diag(args: argparse.Namespace) -> int:
    from central.errors import UnknownSite
    from central.operator.diagnostics import format_report
    from central.service.link import OperatorLink
    from central.service.loading import load_signer
    from central.sites.commands import CommandSender, record_reply
    from protocols.clock import SystemClock
    from protocols.errors import ProtocolError
    from protocols.messages import Reply, RunDiagnostics, decode
    from protocols.topics import SiteChannel, Topics, check_site_id

    config, store = _open_store(args)
    try:
        site = check_site_id(args.site)
        with store.transaction() as session:
            known = session.get_site(site)
            if known is None:
                raise UnknownSite(site)
        # The site hears commands on its own broker only (docs/brokers.md).
        brokers = config.broker_list
        broker = next((b for b in brokers if b.name == known.broker), brokers[0])
        signer = load_signer(config)
        topics = Topics(config.topics.root)
        timeout = args.timeout or config.commands.reply_timeout_s
        holder: list[CommandSender] = []

        def heard(message: Any) -> None:
            try:
                reply = decode(Reply, bytes(message.payload))
            except ProtocolError:
                return
            holder[0].waiters.resolve(reply)

        with OperatorLink(broker, [topics.site(site, SiteChannel.REPLIES)], heard) as link:
            sender = CommandSender(
                store, signer, topics, SystemClock(), link.publish, config.commands.expiry_s
            )
            holder.append(sender)
            reply = sender.request(
                site, RunDiagnostics(), timeout, expires_at=time.time() + timeout
            )
        with store.transaction() as session:
            record_reply(session, reply, time.time(), f"site {site} reply")
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        store.close()
    if args.json:
        print(json.dumps(reply.result or {}, indent=2, sort_keys=True))
    else:
        status = "ok" if reply.ok else f"FAILED ({reply.reason.value if reply.reason else '?'})"
        print(f"diagnostics of site {site}: {status}")
        if reply.detail:
            print(f"  {reply.detail}")
        print(format_report(reply.result or {}))
    return 0 if reply.ok else EXIT_FAILED


def _fleet(args: argparse.Namespace) -> int:
    from central.operator.console import console
    from central.operator.fleet import FleetSort, FleetState, fleet, render_fleet, select
    from central.operator.site_detail import render_site, site_detail

    with _open_reader(args) as reader:
        if args.site is not None:
            detail = site_detail(reader.view, args.site)
            console().print(render_site(detail))
            return 0
        view = fleet(reader.view)
    filtered = args.state is not None or args.kind is not None or args.sort != "id"
    shown = select(
        view,
        state=FleetState(args.state) if args.state else None,
        kind=args.kind,
        sort=FleetSort(args.sort),
    )
    limit = None if args.limit <= 0 else args.limit
    console().print(render_fleet(view, limit, shown if filtered else None))
    return 0


def _alarms(args: argparse.Namespace) -> int:
    from central.operator.alarms import open_alarms, render_alarms
    from central.operator.console import console
    from central.sites.alarms import acknowledge

    if args.ack is not None:
        _, store = _open_store(args)
        try:
            with store.transaction() as session:
                alarm = acknowledge(session, args.ack, args.by or _operator(), time.time())
        finally:
            store.close()
        state = "closed" if alarm.cleared_at is not None else "still open until cleared"
        print(f"alarm {alarm.id} ({alarm.kind} at {alarm.site}) acknowledged; {state}")
        return 0
    with _open_reader(args) as reader:
        lines = open_alarms(reader.view)
    console().print(render_alarms(lines))
    return 0


def _central_status(args: argparse.Namespace) -> int:
    from central.operator.console import console
    from central.operator.processes import process_lines, render_processes
    from central.service.config import load_config
    from central.store.open import open_reader, store_location

    config = load_config(args.config)
    with open_reader(store_location(config.store)) as reader:
        lines = process_lines(reader.view, time.time(), config.service.tick_interval_s)
    retained: Any = None
    note: str | None = "not asked"
    if args.broker_wait > 0:
        retained, note = _retained_central_status(config, args.broker_wait)
    console().print(render_processes(lines, retained, note))
    return 0


def _retained_central_status(config: Any, wait_s: float) -> tuple[Any, str | None]:
    """Central's status as the first broker retains it: (CentralStatus or None, why none)."""
    import threading

    from central.service.link import LinkError, OperatorLink
    from protocols.errors import ProtocolError
    from protocols.messages import CentralStatus, decode
    from protocols.topics import Topics

    heard: list[CentralStatus] = []
    arrived = threading.Event()

    def on_message(message: Any) -> None:
        try:
            heard.append(decode(CentralStatus, bytes(message.payload)))
        except ProtocolError:
            return
        arrived.set()

    broker = config.broker_list[0]
    topic = Topics(config.topics.root).central_status()
    try:
        with OperatorLink(broker, [topic], on_message):
            arrived.wait(wait_s)
    except LinkError as exc:
        return None, f"broker {broker.address} not reached ({exc})"
    if not heard:
        return None, f"none retained on {broker.address}"
    return heard[-1], None
