"""Render the production broker's folder from the template and a PKI folder.

    lockernet pki broker-config --pki DIR --network network.json -o OUT

OUT gets only what the broker reads: mosquitto.conf (the template `production.conf` filled
in, with the shared settings of `lockernet.conf`), acl (generated from the network's sites),
and copies of ca.pem, crl.pem, broker.pem and broker.key. The configuration names files in
OUT only: the PKI folder holds ca.key, which the README says to keep offline, and stays the
operator's alone (owner-only).

Mosquitto started as root drops to the `mosquitto` user (Debian's package creates it) before
it reads the certificates, so that user must read OUT and write the data folder. Run as root
where that user exists, the folder and its files become root:mosquitto (folder 0750, files
0640: the broker reads, only root writes) and a data folder created here mosquitto's own;
otherwise `BrokerFolder.advice` says the one chown to run.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from central.broker.acl import AclError, render_acl
from central.broker.launcher import SETTINGS_FILE
from protocols.topics import DEFAULT_ROOT

TEMPLATE_FILE = Path(__file__).with_name("production.conf")
CONFIG_NAME = "mosquitto.conf"
ACL_NAME = "acl"
# What the broker needs of the PKI folder, copied under the same names; never ca.key.
PKI_FILES = ("ca.pem", "crl.pem", "broker.pem", "broker.key")
CRL_NAME = "crl.pem"
MQTTS_PORT = 8883  # IANA: MQTT over TLS
DEV_PORT = 1883
# Every site holds one connection; leave room for central's processes and operators.
DEFAULT_MAX_CONNECTIONS = -1
# The user Mosquitto drops to when started as root (Debian's package and mosquitto.conf(5)).
BROKER_USER = "mosquitto"
# The broker reads the folder; only root (or the operator) writes it.
FOLDER_MODE = 0o750
FILE_MODE = 0o640
DATA_MODE = 0o750

DEV_LISTENER = """\
# Development and the simulator: plain MQTT on loopback only, no identity and no ACL.
# Anyone who can run a process on this host can act as any site here: leave it out
# (--no-dev-listener) wherever that host is not the operator's own.
listener {port} 127.0.0.1
allow_anonymous true
"""


@dataclass(frozen=True)
class BrokerLayout:
    """Where the broker listens and finds its files."""

    pki_dir: Path
    data_dir: Path
    tls_port: int = MQTTS_PORT
    tls_bind: str = "0.0.0.0"  # noqa: S104 - sites connect from everywhere, with a certificate
    dev_port: int | None = DEV_PORT
    log_dest: str = "syslog"
    run_as_root: bool = False
    max_connections: int = DEFAULT_MAX_CONNECTIONS


@dataclass(frozen=True)
class BrokerAccount:
    """The user the broker runs as: its uid and primary group."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class BrokerFolder:
    """What `write_broker_config` did: the files, who owns them, and what is left to do."""

    folder: Path
    config: Path
    acl: Path
    owner: str | None  # "root:mosquitto" when handed to the broker's user, else None
    data_dir_created: bool
    advice: str | None  # one line for the operator (a chown to run), or None


def broker_account(name: str = BROKER_USER) -> BrokerAccount | None:
    """The broker's user if it exists on this machine, else None."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return BrokerAccount(name, entry.pw_uid, entry.pw_gid)


def render_config(layout: BrokerLayout, folder: Path) -> str:
    """The mosquitto.conf text for this layout, naming the files in `folder` (the rendered
    broker folder) and nothing in the PKI folder."""
    for port in (layout.tls_port, layout.dev_port):
        if port is not None and not 1 <= port <= 65535:
            raise AclError(f"port {port} is not 1-65535")
    if layout.dev_port == layout.tls_port:
        raise AclError("the TLS and development listeners need different ports")
    shared = "\n".join(
        line
        for line in SETTINGS_FILE.read_text().splitlines()
        if not line.startswith("per_listener_settings")
    )
    here = Path(folder).resolve()
    dev = DEV_LISTENER.format(port=layout.dev_port) if layout.dev_port is not None else ""
    return Template(TEMPLATE_FILE.read_text()).substitute(
        shared_settings=shared,
        data_dir=layout.data_dir.resolve(),
        log_dest=layout.log_dest,
        # Mosquitto started as root drops to "mosquitto" unless told otherwise; tests that
        # run as root may keep root.
        user_line="user root" if layout.run_as_root else "",
        tls_port=layout.tls_port,
        tls_bind=layout.tls_bind,
        ca_file=here / "ca.pem",
        cert_file=here / "broker.pem",
        key_file=here / "broker.key",
        crl_file=here / CRL_NAME,
        acl_file=here / ACL_NAME,
        max_connections=layout.max_connections,
        dev_listener=dev,
    )


def write_broker_config(
    layout: BrokerLayout,
    sites: Iterable[str],
    out: Path,
    root: str = DEFAULT_ROOT,
    account: BrokerAccount | None = None,
) -> BrokerFolder:
    """Write the broker's folder OUT (mosquitto.conf, acl and the copied PKI files) and
    create the data folder if it is missing. `account` is the broker's user (default: the
    `mosquitto` user when run as root and it exists): folder and files are handed to it.

    Raises AclError, with nothing written, if the PKI folder lacks a file, OUT is (or is in)
    the PKI folder or holds files the broker does not need, or the data folder is a file."""
    pki = Path(layout.pki_dir)
    out = Path(out)
    missing = [n for n in PKI_FILES if not (pki / n).is_file()]
    if missing:
        raise AclError(f"{pki} lacks {', '.join(missing)}: run `lockernet pki init`")
    _check_out(pki, out, layout.data_dir)
    data_dir = Path(layout.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise AclError(f"--data-dir {data_dir} is not a folder: the broker keeps its state there")
    acl = render_acl(sites, root)
    config = render_config(layout, out)
    if account is None and os.geteuid() == 0:
        account = broker_account()
    gid = account.gid if account is not None else None
    out.mkdir(parents=True, exist_ok=True)
    _own(out, FOLDER_MODE, None, gid)
    for name in PKI_FILES:
        _install(out / name, (pki / name).read_bytes(), gid)
    _install(out / ACL_NAME, acl.encode(), gid)
    _install(out / CONFIG_NAME, config.encode(), gid)
    created = not data_dir.exists()
    if created:
        # Without it Mosquitto runs but cannot save: retained messages and sessions would
        # be lost at its next restart.
        data_dir.mkdir(parents=True)
        _own(data_dir, DATA_MODE, account.uid if account else None, gid)
    return BrokerFolder(
        folder=out,
        config=out / CONFIG_NAME,
        acl=out / ACL_NAME,
        owner=f"root:{account.name}" if account is not None else None,
        data_dir_created=created,
        advice=_advice(out, data_dir, account),
    )


def check_broker_folder(folder: Path) -> None:
    """AclError unless `folder` is a rendered broker folder (holds its mosquitto.conf)."""
    if not (Path(folder) / CONFIG_NAME).is_file():
        raise AclError(
            f"--broker-dir {folder} is not a broker folder (no {CONFIG_NAME}): "
            "give the -o of `lockernet pki broker-config`"
        )


def copy_crl(pki_dir: Path, folder: Path) -> Path:
    """Copy the PKI folder's CRL into a rendered broker folder (after `pki revoke` or `pki
    crl`), with the folder's group; the broker reads it at SIGHUP. Returns the copy."""
    source = Path(pki_dir) / CRL_NAME
    target = Path(folder) / CRL_NAME
    check_broker_folder(folder)
    gid = Path(folder).stat().st_gid if os.geteuid() == 0 else None
    _install(target, source.read_bytes(), gid)
    return target


def _check_out(pki: Path, out: Path, data_dir: Path) -> None:
    """OUT must be a folder of the broker's own: not the PKI folder, not inside it, and
    holding nothing but what a previous render wrote (and the data folder)."""
    pki_real, out_real = pki.resolve(), out.resolve()
    if out_real == pki_real or pki_real in out_real.parents:
        raise AclError(
            f"-o {out} is in the PKI folder {pki}, which holds ca.key: choose a folder of "
            "the broker's own (e.g. /etc/mosquitto/lockernet)"
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise AclError(f"-o {out} is not a folder")
    ours = {*PKI_FILES, ACL_NAME, CONFIG_NAME}
    data_real = Path(data_dir).resolve()
    strangers = sorted(
        p.name
        for p in out.iterdir()
        if p.name not in ours and p.resolve() != data_real and not p.name.startswith(".")
    )
    if strangers:
        raise AclError(
            f"-o {out} holds {', '.join(strangers)}, which the broker does not need: "
            "choose a new or empty folder"
        )


def _install(path: Path, data: bytes, gid: int | None) -> None:
    """Write `path` whole (a temporary file renamed into place), FILE_MODE, group `gid`."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _own(temporary, FILE_MODE, None, gid)
    os.replace(temporary, path)


def _own(path: Path, mode: int, uid: int | None, gid: int | None) -> None:
    if uid is not None or gid is not None:
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    os.chmod(path, mode)  # after chown, which may clear set-id bits


def _advice(out: Path, data_dir: Path, account: BrokerAccount | None) -> str | None:
    """The one line to run when the broker's user was not handed the files."""
    if account is None:
        return (
            f"run the broker as this user, or as root where the {BROKER_USER} user exists: "
            f"chown -R root:{BROKER_USER} {out} && chown -R {BROKER_USER}: {data_dir}"
        )
    if data_dir.stat().st_uid != account.uid:
        return f"the broker writes {data_dir}: chown -R {account.name}: {data_dir}"
    return None
