"""Render the production broker configuration from the template and a PKI folder.

    lockernet pki broker-config --pki DIR --network network.json -o OUT

writes OUT/mosquitto.conf (the template `production.conf` filled in, with the shared
settings of `lockernet.conf`) and OUT/acl (generated from the network's sites).
"""

from __future__ import annotations

import os
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
MQTTS_PORT = 8883  # IANA: MQTT over TLS
DEV_PORT = 1883
# Every site holds one connection; leave room for central's processes and operators.
DEFAULT_MAX_CONNECTIONS = -1

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


def render_config(layout: BrokerLayout, acl_file: Path) -> str:
    """The mosquitto.conf text for this layout."""
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
    pki = layout.pki_dir.resolve()
    dev = DEV_LISTENER.format(port=layout.dev_port) if layout.dev_port is not None else ""
    return Template(TEMPLATE_FILE.read_text()).substitute(
        shared_settings=shared,
        data_dir=layout.data_dir.resolve(),
        log_dest=layout.log_dest,
        # Mosquitto started as root drops to "mosquitto" unless told otherwise; tests that
        # run as root keep root so the broker can read their private folders.
        user_line="user root" if layout.run_as_root else "",
        tls_port=layout.tls_port,
        tls_bind=layout.tls_bind,
        ca_file=pki / "ca.pem",
        cert_file=pki / "broker.pem",
        key_file=pki / "broker.key",
        crl_file=pki / "crl.pem",
        acl_file=acl_file.resolve(),
        max_connections=layout.max_connections,
        dev_listener=dev,
    )


def write_broker_config(
    layout: BrokerLayout, sites: Iterable[str], out: Path, root: str = DEFAULT_ROOT
) -> tuple[Path, Path]:
    """Write OUT/mosquitto.conf and OUT/acl; returns both paths. Nothing is written if the
    input is bad."""
    missing = [
        n
        for n in ("ca.pem", "broker.pem", "broker.key", "crl.pem")
        if not (layout.pki_dir / n).exists()
    ]
    if missing:
        raise AclError(f"{layout.pki_dir} lacks {', '.join(missing)}: run `lockernet pki init`")
    out = Path(out)
    acl_path = out / ACL_NAME
    acl = render_acl(sites, root)
    config = render_config(layout, acl_path)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / CONFIG_NAME
    for path, text in ((acl_path, acl), (config_path, config)):
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    return config_path, acl_path
