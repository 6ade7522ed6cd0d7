"""`lockernet pki`: what an operator runs, and what it leaves on disk."""

from __future__ import annotations

import stat
import subprocess
import sys

from cryptography import x509

LOCKERNET = [sys.executable, "-m", "protocols.cli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOCKERNET, *args], capture_output=True, text=True, check=False)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_issue_revoke_and_broker_config(tmp_path):
    pki = tmp_path / "pki"
    done = _run("pki", "init", str(pki), "--broker-host", "broker.example.net")
    assert done.returncode == 0, done.stderr
    for key in ("ca.key", "broker.key", "central.key", "central-signing-key.pem"):
        assert _mode(pki / key) == 0o600, key
        assert "PRIVATE KEY" not in done.stdout + done.stderr
    broker = x509.load_pem_x509_certificate((pki / "broker.pem").read_bytes())
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "broker.example.net" in names.get_values_for_type(x509.DNSName)

    bundle = tmp_path / "L0001"
    done = _run(
        "pki",
        "issue-site",
        "L0001",
        "--pki",
        str(pki),
        "--broker",
        "broker.example.net:8883",
        "--install-dir",
        "/etc/lockernet",
        "-o",
        str(bundle),
    )
    assert done.returncode == 0, done.stderr
    assert "PRIVATE KEY" not in done.stdout + done.stderr
    assert _mode(bundle / "site.key") == 0o600
    cert = x509.load_pem_x509_certificate((bundle / "site.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "L0001"
    fragment = (bundle / "site.toml").read_text()
    assert 'host = "broker.example.net"' in fragment and "port = 8883" in fragment
    assert 'key_file = "/etc/lockernet/site.key"' in fragment
    assert (bundle / "central.pub").read_bytes() == (pki / "central-signing-key.pub").read_bytes()

    done = _run("pki", "revoke", "L0001", "--pki", str(pki))
    assert done.returncode == 0, done.stderr
    crl = x509.load_pem_x509_crl((pki / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    network = tmp_path / "network.json"
    assert (
        _run(
            "network",
            "generate",
            "--seed",
            "1",
            "--lockers",
            "3",
            "--counters",
            "2",
            "--couriers",
            "4",
            "-o",
            str(network),
        ).returncode
        == 0
    )
    out = tmp_path / "broker"
    done = _run(
        "pki", "broker-config", "--pki", str(pki), "--network", str(network), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    conf = (out / "mosquitto.conf").read_text()
    for line in (
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"crlfile {out.resolve()}/crl.pem",
    ):
        assert line in conf
    acl = (out / "acl").read_text()
    assert acl.count("\nuser ") == 1 + 5  # central and the five sites


def test_bad_input_is_refused_clearly_and_changes_nothing(tmp_path):
    pki = tmp_path / "pki"
    assert _run("pki", "init", str(pki)).returncode == 0
    index = (pki / "issued.json").read_text()
    ca_key = (pki / "ca.key").read_bytes()

    again = _run("pki", "init", str(pki))
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert (pki / "ca.key").read_bytes() == ca_key

    for site, message in (("central", "reserved"), ("bad/site", "site id"), ("", "site id")):
        done = _run("pki", "issue-site", site, "--pki", str(pki), "-o", str(tmp_path / "b"))
        assert done.returncode == 2 and message in done.stderr, done.stderr
    done = _run(
        "pki",
        "issue-site",
        "L0001",
        "--pki",
        str(pki),
        "--broker",
        "nohost",
        "-o",
        str(tmp_path / "b"),
    )
    assert done.returncode == 2 and "HOST:PORT" in done.stderr
    done = _run("pki", "revoke", "L0404", "--pki", str(pki))
    assert done.returncode == 2 and "no certificate" in done.stderr
    done = _run(
        "pki", "issue-site", "L0001", "--pki", str(tmp_path / "nowhere"), "-o", str(tmp_path / "b")
    )
    assert done.returncode == 2 and "pki init" in done.stderr
    assert (pki / "issued.json").read_text() == index
    assert not (tmp_path / "b").exists()
