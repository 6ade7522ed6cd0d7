"""`lockernet pki broker-config` renders a folder with only what the broker reads, copied out
of the PKI folder (which holds ca.key), readable by Debian's `mosquitto` user; a real
Mosquitto started as root drops to that user and serves a site over TLS from it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker.acl import AclError
from central.broker.launcher import find_mosquitto, free_port
from central.broker.production import (
    BrokerLayout,
    broker_account,
    write_broker_config,
)
from central.pki.authority import Pki, init_pki
from protocols.topics import SiteChannel, Topics
from tests.eventually import eventually
from tests.security.clients import TlsClient

SITES = ["L0001", "L0002", "C0001"]
WANTED = {"mosquitto.conf", "acl", "ca.pem", "crl.pem", "broker.pem", "broker.key"}
AS_ROOT = os.geteuid() == 0
MOSQUITTO = broker_account()
LOCKERNET = [sys.executable, "-m", "protocols.cli"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return init_pki(tmp_path_factory.mktemp("pki") / "pki")


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder the broker's user can reach (pytest's own are root's only when run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="lockernet-broker-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def layout(pki: Pki, data_dir: Path, **options: object) -> BrokerLayout:
    return BrokerLayout(pki_dir=pki.folder, data_dir=data_dir, **options)  # type: ignore[arg-type]


def test_the_folder_holds_copies_of_only_what_the_broker_reads(pki, tmp_path) -> None:
    out = tmp_path / "broker"
    folder = write_broker_config(layout(pki, tmp_path / "data"), SITES, out)
    assert {p.name for p in out.iterdir()} == WANTED
    for name in ("ca.pem", "crl.pem", "broker.pem", "broker.key"):
        assert (out / name).read_bytes() == (pki.folder / name).read_bytes(), name
        assert not (out / name).is_symlink()
    # No key but the broker's own: not the CA's, central's or its signing key.
    keys = [p.name for p in out.iterdir() if b"PRIVATE KEY" in p.read_bytes()]
    assert keys == ["broker.key"]
    conf = folder.config.read_text()
    named = re.findall(r"^(?:cafile|certfile|keyfile|crlfile|acl_file) (\S+)$", conf, re.M)
    assert sorted(Path(p).name for p in named) == ["acl", "broker.key", "broker.pem",
                                                   "ca.pem", "crl.pem"]  # fmt: skip
    assert all(Path(p).parent == out.resolve() for p in named), named
    assert str(pki.folder.resolve()) not in conf
    assert f"persistence_location {(tmp_path / 'data').resolve()}/" in conf
    # Only root (or the operator) writes; the broker's group reads.
    assert mode(out) == 0o750
    assert {p.name: mode(p) for p in out.iterdir()} == dict.fromkeys(WANTED, 0o640)


@pytest.mark.skipif(not (AS_ROOT and MOSQUITTO), reason="needs root and a mosquitto user")
def test_as_root_the_folder_is_handed_to_the_mosquitto_group(pki, tmp_path) -> None:
    assert MOSQUITTO is not None
    out, data = tmp_path / "broker", tmp_path / "data"
    folder = write_broker_config(layout(pki, data), SITES, out)
    assert folder.owner == "root:mosquitto"
    for path in (out, *out.iterdir()):
        assert (path.stat().st_uid, path.stat().st_gid) == (0, MOSQUITTO.gid), path
    # The data folder it created is the broker's to write.
    assert folder.data_dir_created and data.stat().st_uid == MOSQUITTO.uid
    assert folder.advice is None
    # The PKI folder stays the operator's alone.
    assert mode(pki.folder / "ca.key") == 0o600 and pki.folder.stat().st_gid != MOSQUITTO.gid


def test_a_missing_data_dir_is_created_and_a_file_in_its_place_refused(pki, tmp_path) -> None:
    data = tmp_path / "var" / "lib" / "mosquitto"
    folder = write_broker_config(layout(pki, data), SITES, tmp_path / "broker")
    assert folder.data_dir_created and data.is_dir()
    not_a_folder = tmp_path / "data-file"
    not_a_folder.write_text("")
    with pytest.raises(AclError, match=f"--data-dir {not_a_folder} is not a folder"):
        write_broker_config(layout(pki, not_a_folder), SITES, tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda pki, tmp: pki.folder, "is in the PKI folder"),
        (lambda pki, tmp: pki.folder / "broker", "is in the PKI folder"),
        (lambda pki, tmp: tmp / "etc", "holds ca.key, which the broker does not need"),
    ],
)
def test_a_folder_that_is_or_holds_the_pki_is_refused(pki, tmp_path, where, message) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ca.key").write_text("a copy someone left")
    out = where(pki, tmp_path)
    before = sorted(p.name for p in pki.folder.iterdir())
    with pytest.raises(AclError, match=message):
        write_broker_config(layout(pki, tmp_path / "data"), SITES, out)
    assert sorted(p.name for p in pki.folder.iterdir()) == before
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["ca.key"]
    assert not (tmp_path / "data").exists()


def test_the_command_says_what_it_wrote_and_revoke_refreshes_the_brokers_crl(pki, tmp_path) -> None:
    network = tmp_path / "network.json"
    made = subprocess.run([*LOCKERNET, "network", "generate", "--seed", "1", "--lockers", "2",
                           "--counters", "1", "--couriers", "2", "-o", str(network)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    out, data = tmp_path / "broker", tmp_path / "no" / "such" / "data"
    done = subprocess.run([*LOCKERNET, "pki", "broker-config", "--pki", str(pki.folder),
                           "--network", str(network), "-o", str(out), "--data-dir", str(data)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"wrote the broker's folder {out}" in done.stdout
    assert f"created the data folder {data}" in done.stdout
    assert data.is_dir()
    pki.issue_site("L0001", tmp_path / "bundle", broker_host="127.0.0.1", broker_port=8883)
    old_crl = (out / "crl.pem").read_bytes()
    done = subprocess.run([*LOCKERNET, "pki", "revoke", "L0001", "--pki", str(pki.folder),
                           "--broker-dir", str(out)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"copied to {out / 'crl.pem'}" in done.stdout
    assert (out / "crl.pem").read_bytes() == (pki.folder / "crl.pem").read_bytes() != old_crl
    assert mode(out / "crl.pem") == 0o640
    # A --broker-dir that is no broker folder is refused before anything is revoked.
    index = (pki.folder / "issued.json").read_text()
    done = subprocess.run([*LOCKERNET, "pki", "revoke", "L0002", "--pki", str(pki.folder),
                           "--broker-dir", str(tmp_path)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 2 and "is not a broker folder" in done.stderr
    assert (pki.folder / "issued.json").read_text() == index


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
    return int(line.split()[2])  # the effective uid


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not (AS_ROOT and MOSQUITTO), reason="needs root and a mosquitto user")
def test_mosquitto_started_as_root_runs_as_mosquitto_and_serves_a_site_over_tls(
    pki, tmp_path, shared_tmp
) -> None:
    assert MOSQUITTO is not None
    tls_port = free_port()
    out, data = shared_tmp / "broker", shared_tmp / "data"
    folder = write_broker_config(
        layout(pki, data, tls_port=tls_port, tls_bind="127.0.0.1", dev_port=None,
               log_dest="stderr"),
        ["L0003"],
        out,
    )  # fmt: skip
    assert "\nuser " not in folder.config.read_text()  # Mosquitto's own default: drop to it
    bundle = tmp_path / "bundle"
    pki.issue_site("L0003", bundle, broker_host="127.0.0.1", broker_port=tls_port)
    broker = subprocess.Popen(
        [find_mosquitto(), "-c", str(folder.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    client = None
    try:
        eventually(lambda: port_open(tls_port) or broker.poll() is not None, what="the broker")
        assert broker.poll() is None, broker.communicate()[1].decode()
        assert uid_of(broker.pid) == MOSQUITTO.uid
        client = TlsClient(tls_port, bundle / "ca.pem", bundle / "site.pem", bundle / "site.key")
        client.connect()
        topic = Topics().site("L0003", SiteChannel.EVENTS)
        assert not client.publish(topic, b"{}").is_failure
    finally:
        if client is not None:
            client.close()
        broker.terminate()
        _, errors = broker.communicate(timeout=10)
    assert broker.returncode == 0, errors.decode()
    # It saved its state where --data-dir said: persistence was not silently off.
    assert (data / "mosquitto.db").is_file()
