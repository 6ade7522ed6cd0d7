"""A real Mosquitto with the production configuration: TLS listener with client
certificates, CRL and the ACL generated for a small network; plus its loopback listener."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.broker.launcher import free_port
from central.broker.production import (
    BrokerLayout,
    copy_crl,
    render_config,
    write_broker_config,
)
from central.pki.authority import Pki, init_pki
from tests.security.clients import TlsClient

ROOT = "lockernet-sec/v1"
SITES = [f"L{n:04d}" for n in range(1, 10)]


@dataclass
class SecureBroker:
    broker: PrivateBroker
    pki: Pki
    tls_port: int
    dev_port: int
    root: str
    home: Path
    conf: Path  # the rendered broker folder the broker reads

    def site_credentials(self, site: str) -> tuple[Path, Path]:
        """A fresh bundle's certificate and key for the site (issued once per site)."""
        bundle = self.home / "bundles" / site
        if not (bundle / "site.pem").exists():
            self.pki.issue_site(site, bundle, broker_host="127.0.0.1", broker_port=self.tls_port)
        return bundle / "site.pem", bundle / "site.key"

    def client(self, cert: Path | None, key: Path | None, ca: Path | None = None) -> TlsClient:
        return TlsClient(self.tls_port, ca or self.pki.ca_file, cert, key)

    def site(self, site: str) -> TlsClient:
        return self.client(*self.site_credentials(site)).connect()

    def central(self) -> TlsClient:
        folder = self.pki.folder
        return self.client(folder / "central.pem", folder / "central.key").connect()

    def reload(self) -> None:
        """The PKI's CRL copied into the broker's folder, then SIGHUP: Mosquitto reads its
        configuration again (and with it the CRL), as `pki revoke --broker-dir` and a
        SIGHUP do."""
        copy_crl(self.pki.folder, self.conf)
        assert self.broker._process is not None
        os.kill(self.broker._process.pid, 1)


def start_secure_broker(home: Path) -> SecureBroker:
    pki = init_pki(home / "pki")
    data = home / "broker"
    tls_port, dev_port = free_port(), free_port()
    layout = BrokerLayout(
        pki_dir=pki.folder,
        data_dir=data,
        tls_port=tls_port,
        tls_bind="127.0.0.1",
        dev_port=dev_port,
        log_dest=f"file {data / 'mosquitto.log'}",
        run_as_root=os.geteuid() == 0,
    )
    folder = write_broker_config(layout, SITES, home / "conf", ROOT)
    assert folder.config.read_text() == render_config(layout, home / "conf")
    broker = PrivateBroker(data, port=tls_port, config=folder.config.read_text())
    broker.start()
    return SecureBroker(broker, pki, tls_port, dev_port, ROOT, home, folder.folder)


@pytest.fixture(scope="package")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    instance = start_secure_broker(tmp_path_factory.mktemp("secure"))
    try:
        yield instance
    finally:
        instance.broker.stop()
