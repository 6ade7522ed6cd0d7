"""`lockernet pki`: the operator's device certificates and the locked-down broker.

    lockernet pki init DIR [--broker-host broker.example.net ...]
    lockernet pki issue-site SITE_ID --pki DIR [--broker HOST:PORT] -o BUNDLE
    lockernet pki issue-central --pki DIR -o FOLDER       another central client certificate
    lockernet pki revoke SITE_ID --pki DIR [--serial HEX] [--broker-dir OUT]
    lockernet pki crl --pki DIR [--broker-dir OUT]         re-sign the CRL before it lapses
    lockernet pki broker-config --pki DIR --network network.json -o OUT [--data-dir DIR]

Exit status: 0 done, 1 an operation failed, 2 bad input (nothing was changed).
Key material is never printed: only paths, names and serial numbers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
DEFAULT_BROKER = "localhost:8883"

Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pki = commands.add_parser("pki", help="device certificates, revocation, the broker's TLS/ACL")
    sub = pki.add_subparsers(dest="pki_command", metavar="ACTION", required=True)

    init = sub.add_parser("init", help="create the device CA, central's keys and the broker cert")
    init.add_argument("dir", type=Path, help="new (or empty) folder for the PKI")
    init.add_argument(
        "--broker-host",
        action="append",
        default=None,
        help="a name or address sites reach the broker at (repeatable; "
        "default localhost and 127.0.0.1)",
    )
    init.set_defaults(handler=_guarded(_init))

    site = sub.add_parser("issue-site", help="a site's client certificate and device bundle")
    site.add_argument("site", help="site id (the certificate's common name)")
    _pki_option(site)
    site.add_argument("--broker", default=DEFAULT_BROKER, help="HOST:PORT the device connects to")
    site.add_argument(
        "--install-dir",
        type=Path,
        default=None,
        help="where the bundle's files will live on the device (default: the bundle folder)",
    )
    site.add_argument("-o", "--out", type=Path, required=True, help="new bundle folder")
    site.set_defaults(handler=_guarded(_issue_site))

    central = sub.add_parser("issue-central", help="a client certificate for central (CN central)")
    _pki_option(central)
    central.add_argument("-o", "--out", type=Path, required=True, help="folder to write into")
    central.set_defaults(handler=_guarded(_issue_central))

    revoke = sub.add_parser("revoke", help="revoke a site's certificates (updates the CRL)")
    revoke.add_argument("site", help="site id (or 'central')")
    _pki_option(revoke)
    revoke.add_argument("--serial", type=_hex, default=None, help="only this certificate (hex)")
    _broker_dir_option(revoke)
    revoke.set_defaults(handler=_guarded(_revoke))

    crl = sub.add_parser("crl", help="re-sign the CRL (it lapses after 90 days)")
    _pki_option(crl)
    _broker_dir_option(crl)
    crl.set_defaults(handler=_guarded(_crl))

    broker = sub.add_parser(
        "broker-config",
        help="the production broker's folder: mosquitto.conf, ACL and copies of its TLS files",
    )
    _pki_option(broker)
    broker.add_argument("--network", type=Path, required=True, help="network file (sites)")
    broker.add_argument(
        "-o", "--out", type=Path, required=True, help="the broker's folder (not the PKI's)"
    )
    broker.add_argument("--tls-port", type=int, default=8883)
    broker.add_argument("--bind", default="0.0.0.0", help="address of the TLS listener")  # noqa: S104
    broker.add_argument("--dev-port", type=int, default=1883, help="plain loopback listener")
    broker.add_argument("--no-dev-listener", action="store_true", help="no plain listener at all")
    broker.add_argument(
        "--data-dir",
        type=Path,
        default=Path("/var/lib/mosquitto"),
        help="where the broker keeps sessions and retained messages (created if missing)",
    )
    broker.add_argument("--log-dest", default="syslog", help="mosquitto log_dest value")
    broker.add_argument("--root", default=None, help="topic root (default lockernet/v1)")
    broker.set_defaults(handler=_guarded(_broker_config))


def _pki_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pki", type=Path, required=True, help="the PKI folder (pki init)")


def _broker_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-dir",
        type=Path,
        default=None,
        help="the broker's folder (broker-config -o): copy the new CRL into it",
    )


def _hex(text: str) -> int:
    try:
        return int(text.removeprefix("0x"), 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hexadecimal serial") from None


def _guarded(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        from central.errors import CentralError

        try:
            return handler(args)
        except CentralError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as exc:
            print(f"error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
            return EXIT_FAILED

    return run


def _host_port(text: str) -> tuple[str, int]:
    from central.pki.authority import PkiError

    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PkiError(f"--broker {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _init(args: argparse.Namespace) -> int:
    from central.pki.authority import DEFAULT_BROKER_HOSTS, init_pki

    hosts = tuple(args.broker_host) if args.broker_host else DEFAULT_BROKER_HOSTS
    pki = init_pki(args.dir, hosts)
    print(
        f"created the PKI in {pki.folder}: device CA ca.pem, broker certificate for "
        f"{', '.join(hosts)}, central's client certificate and signing key "
        "(private keys are owner-only; keep ca.key offline when not issuing)"
    )
    return 0


def _issue_site(args: argparse.Namespace) -> int:
    from central.pki.authority import Pki

    host, port = _host_port(args.broker)
    bundle = Pki(args.pki).issue_site(
        args.site, args.out, broker_host=host, broker_port=port, install_dir=args.install_dir
    )
    print(
        f"issued {args.site}: serial {bundle.serial:x}, valid until "
        f"{bundle.not_after:%Y-%m-%d}; bundle in {bundle.folder} (merge its site.toml)"
    )
    return 0


def _issue_central(args: argparse.Namespace) -> int:
    from central.pki.authority import CENTRAL_NAME, Pki, PkiError

    pki = Pki(args.pki)
    out: Path = args.out
    if (out / "central.key").exists():
        raise PkiError(f"{out / 'central.key'} exists; choose a new folder")
    cert, key = pki.issue(CENTRAL_NAME, "central")
    pki.write_pair(out / "central", cert, key)
    (out / "ca.pem").write_bytes(pki.ca_file.read_bytes())
    print(f"issued central: serial {cert.serial_number:x}; central.pem/central.key in {out}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from central.broker.production import check_broker_folder
    from central.pki.authority import Pki

    if args.broker_dir is not None:  # checked first: a refused command revokes nothing
        check_broker_folder(args.broker_dir)
    pki = Pki(args.pki)
    serials = pki.revoke(args.site, args.serial)
    print(
        f"revoked {args.site}: serial(s) {', '.join(f'{s:x}' for s in serials)}; "
        f"CRL {pki.crl_file} updated; {_crl_to_broker(args)}"
    )
    return 0


def _crl_to_broker(args: argparse.Namespace) -> str:
    """Copy the CRL into the broker's folder if given; what the operator does next."""
    from central.broker.production import copy_crl

    if args.broker_dir is None:
        return (
            "copy it to the broker's folder (--broker-dir OUT does), then send the broker "
            "SIGHUP (or restart it) to read it"
        )
    copied = copy_crl(args.pki, args.broker_dir)
    return f"copied to {copied}: send the broker SIGHUP (or restart it) to read it"


def _crl(args: argparse.Namespace) -> int:
    from central.broker.production import check_broker_folder
    from central.pki.authority import Pki

    if args.broker_dir is not None:
        check_broker_folder(args.broker_dir)
    path = Pki(args.pki).write_crl()
    print(f"re-signed {path}; {_crl_to_broker(args)}")
    return 0


def _broker_config(args: argparse.Namespace) -> int:
    from central.broker.production import BrokerLayout, write_broker_config
    from central.sites.network import load_network
    from protocols.topics import DEFAULT_ROOT

    network = load_network(args.network)
    layout = BrokerLayout(
        pki_dir=args.pki,
        data_dir=args.data_dir,
        tls_port=args.tls_port,
        tls_bind=args.bind,
        dev_port=None if args.no_dev_listener else args.dev_port,
        log_dest=args.log_dest,
    )
    folder = write_broker_config(
        layout, [site.id for site in network.sites], args.out, args.root or DEFAULT_ROOT
    )
    owner = f", owned {folder.owner}" if folder.owner else ""
    print(
        f"wrote the broker's folder {folder.folder}: mosquitto.conf, acl "
        f"({len(network.sites)} sites) and copies of ca.pem, crl.pem, broker.pem and "
        f"broker.key{owner}; start it with `mosquitto -c {folder.config}`"
    )
    if folder.data_dir_created:
        print(f"created the data folder {args.data_dir}")
    if folder.advice:
        print(folder.advice)
    return 0
