"""The operator's device PKI: who may connect to the broker, and as whom.

    lockernet pki init DIR                       CA, central's signing key, broker + central certs
    lockernet pki issue-site L0001 --pki DIR -o BUNDLE
    lockernet pki revoke L0001 --pki DIR         CRL the broker reads (crlfile)

A PKI folder holds:

    ca.pem / ca.key                 the operator's device CA (EC P-256), signs every client cert
    broker.pem / broker.key         the broker's TLS server certificate
    central.pem / central.key       central's client certificate (CN "central")
    central-signing-key.pem / .pub  central's Ed25519 key for codes and commands (not TLS)
    crl.pem                         revoked client certificates, re-signed on every change
    issued.json                     every certificate issued: serial, name, role, expiry

Every private key is written owner-only (0600) and no key material is ever logged or
printed. The broker takes a client certificate's common name as its MQTT user name, so a
site's certificate names the site and the ACL confines that name to its own topics.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central.errors import CentralError
from protocols.errors import MessageError
from protocols.tokens import TokenSigner
from protocols.topics import check_site_id

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
BROKER_CERT = "broker.pem"
BROKER_KEY = "broker.key"
CENTRAL_CERT = "central.pem"
CENTRAL_KEY = "central.key"
SIGNING_KEY = "central-signing-key.pem"
SIGNING_PUBLIC = "central-signing-key.pub"
CRL_FILE = "crl.pem"
INDEX_FILE = "issued.json"

# The broker user central connects as; no site may carry this name.
CENTRAL_NAME = "central"
BROKER_NAME = "lockernet-broker"
RESERVED_NAMES = frozenset({CENTRAL_NAME, BROKER_NAME})

CA_VALIDITY_DAYS = 10 * 365
# CA/Browser Forum's former ceiling for leaf certificates; a device is re-issued well before.
LEAF_VALIDITY_DAYS = 825
# OpenSSL refuses every client once the CRL's next-update passes, so the CRL is short-lived
# enough to matter and long enough to survive a holiday: re-sign it (`pki crl`) monthly.
CRL_VALIDITY_DAYS = 90
# Certificates start a little in the past so a device whose clock lags still accepts them.
BACKDATE = dt.timedelta(minutes=5)
OWNER_ONLY = 0o600
DEFAULT_BROKER_HOSTS = ("localhost", "127.0.0.1")


class PkiError(CentralError):
    """A PKI operation cannot be done as asked; nothing was changed."""


@dataclass(frozen=True)
class Issued:
    """One certificate the CA issued."""

    serial: int
    name: str
    role: str  # "site", "central" or "broker"
    not_after: str  # ISO 8601, UTC
    revoked_at: str | None = None


@dataclass(frozen=True)
class SiteBundle:
    """What `issue_site` wrote: the folder a device installs."""

    folder: Path
    serial: int
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def write_private(path: Path, data: bytes) -> None:
    """Write key material owner-only, atomically: never a moment world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, OWNER_ONLY)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lockernet"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class Pki:
    """An initialised PKI folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        missing = [n for n in (CA_CERT, CA_KEY, INDEX_FILE) if not (self.folder / n).exists()]
        if missing:
            raise PkiError(
                f"{self.folder} is not a lockernet PKI folder (missing {', '.join(missing)}); "
                "create one with `lockernet pki init DIR`"
            )
        try:
            self.ca_cert = x509.load_pem_x509_certificate((self.folder / CA_CERT).read_bytes())
            key = serialization.load_pem_private_key(
                (self.folder / CA_KEY).read_bytes(), password=None
            )
        except (OSError, ValueError) as exc:
            raise PkiError(f"{self.folder}: the CA cannot be read: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{self.folder / CA_KEY} is not an EC private key")
        self._ca_key = key

    # ---------------------------------------------------------------------------- paths
    @property
    def ca_file(self) -> Path:
        return self.folder / CA_CERT

    @property
    def crl_file(self) -> Path:
        return self.folder / CRL_FILE

    @property
    def signing_public(self) -> Path:
        return self.folder / SIGNING_PUBLIC

    # ---------------------------------------------------------------------------- index
    def issued(self) -> list[Issued]:
        try:
            rows = json.loads((self.folder / INDEX_FILE).read_text())
            return [Issued(**row) for row in rows]
        except (OSError, ValueError, TypeError) as exc:
            raise PkiError(f"{self.folder / INDEX_FILE} cannot be read: {exc}") from None

    def _save_index(self, rows: list[Issued]) -> None:
        _write_public(
            self.folder / INDEX_FILE, json.dumps([asdict(r) for r in rows], indent=1).encode()
        )

    # -------------------------------------------------------------------------- issuing
    def issue(
        self,
        name: str,
        role: str,
        *,
        server_hosts: tuple[str, ...] = (),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A new key and a certificate for it, recorded in the index (not written out).

        `not_before` / `not_after` exist so tests can make certificates that are already
        expired; operators use the defaults.
        """
        start = not_before or _now() - BACKDATE
        end = not_after or start + dt.timedelta(days=LEAF_VALIDITY_DAYS)
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
        )
        if server_hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_host_name(h) for h in server_hosts]),
                critical=False,
            )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        rows = self.issued()
        rows.append(Issued(cert.serial_number, name, role, end.isoformat()))
        self._save_index(rows)
        return cert, key

    def write_pair(
        self, stem: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> None:
        """stem.pem (the certificate) and stem.key (owner-only)."""
        write_private(stem.with_suffix(".key"), _key_pem(key))
        _write_public(stem.with_suffix(".pem"), _cert_pem(cert))

    def issue_site(
        self,
        site: str,
        out: Path,
        *,
        broker_host: str,
        broker_port: int,
        install_dir: Path | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> SiteBundle:
        """A site's client certificate (CN = site id) and the folder its device installs.

        `install_dir` is where the files will live on the device (default: the bundle
        folder itself); the site.toml fragment names them there.
        """
        check_site_name(site)
        if not 1 <= broker_port <= 65535:
            raise PkiError(f"broker port {broker_port} is not 1-65535")
        out = Path(out)
        if out.exists() and any(out.iterdir()):
            raise PkiError(f"{out} exists and is not empty; choose a new bundle folder")
        cert, key = self.issue(site, "site", not_before=not_before, not_after=not_after)
        out.mkdir(parents=True, exist_ok=True)
        os.chmod(out, 0o700)
        self.write_pair(out / "site", cert, key)
        _write_public(out / CA_CERT, self.ca_file.read_bytes())
        if self.signing_public.exists():
            _write_public(out / "central.pub", self.signing_public.read_bytes())
        where = Path(install_dir) if install_dir is not None else out.resolve()
        fragment = SITE_TOML.format(
            site=site,
            serial=f"{cert.serial_number:x}",
            not_after=cert.not_valid_after_utc.isoformat(),
            host=json.dumps(broker_host),
            port=broker_port,
            ca=json.dumps(str(where / CA_CERT)),
            cert=json.dumps(str(where / "site.pem")),
            key=json.dumps(str(where / "site.key")),
            public=json.dumps(str(where / "central.pub")),
        )
        _write_public(out / "site.toml", fragment.encode())
        return SiteBundle(out, cert.serial_number, cert.not_valid_after_utc)

    # ------------------------------------------------------------------------- revoking
    def revoke(self, name: str, serial: int | None = None) -> list[int]:
        """Revoke a name's certificates (or one of them) and re-sign the CRL.

        Returns the serials newly revoked; PkiError if there is nothing to revoke.
        """
        rows = self.issued()
        matching = [
            r
            for r in rows
            if r.name == name and r.role != "broker" and (serial is None or r.serial == serial)
        ]
        if not matching:
            which = f" with serial {serial:x}" if serial is not None else ""
            raise PkiError(f"no certificate for {name!r}{which} was issued by this CA")
        fresh = [r.serial for r in matching if r.revoked_at is None]
        if not fresh:
            raise PkiError(f"every certificate of {name!r} is already revoked")
        stamp = _now().isoformat()
        updated = [
            Issued(r.serial, r.name, r.role, r.not_after, stamp) if r.serial in fresh else r
            for r in rows
        ]
        self.write_crl(updated)
        self._save_index(updated)
        return fresh

    def write_crl(self, rows: list[Issued] | None = None) -> Path:
        """Sign a new CRL listing every revoked certificate (also to renew its validity)."""
        rows = self.issued() if rows is None else rows
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca_cert.subject)
            .last_update(now - BACKDATE)
            .next_update(now + dt.timedelta(days=CRL_VALIDITY_DAYS))
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        )
        for row in rows:
            if row.revoked_at is not None:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(row.serial)
                    .revocation_date(dt.datetime.fromisoformat(row.revoked_at))
                    .build()
                )
        crl = builder.sign(self._ca_key, hashes.SHA256())
        _write_public(self.crl_file, crl.public_bytes(serialization.Encoding.PEM))
        return self.crl_file


SITE_TOML = """\
# lockernet site bundle for {site}: certificate serial {serial}, valid until {not_after}.
# Merge into the site's site.toml (lock_bus, scanner and slots come from the installer).
site_id = "{site}"
central_public_key = {public}

[broker]
host = {host}
port = {port}
ca_file = {ca}
cert_file = {cert}
key_file = {key}
"""


def check_site_name(site: str) -> str:
    """A site id that can be a certificate name and a broker user; PkiError otherwise."""
    try:
        check_site_id(site)
    except MessageError as exc:
        raise PkiError(str(exc)) from None
    if site.lower() in RESERVED_NAMES:
        raise PkiError(f"{site!r} is reserved for the broker or central, not a site id")
    return site


def init_pki(folder: Path, broker_hosts: tuple[str, ...] = DEFAULT_BROKER_HOSTS) -> Pki:
    """Create a PKI folder: CA, empty CRL, broker and central certificates, signing key."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise PkiError(f"{folder} exists and is not empty; a PKI is never overwritten")
    if not broker_hosts:
        raise PkiError("the broker certificate needs at least one host name or address")
    for host in broker_hosts:
        if not host or any(c.isspace() for c in host):
            raise PkiError(f"broker host {host!r} is not a host name or IP address")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("lockernet device CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(folder / CA_KEY, _key_pem(ca_key))
    _write_public(folder / CA_CERT, _cert_pem(ca_cert))
    _write_public(folder / INDEX_FILE, b"[]")
    pki = Pki(folder)
    pki.write_crl()
    signer = TokenSigner.generate()
    write_private(folder / SIGNING_KEY, signer.private_pem())
    _write_public(folder / SIGNING_PUBLIC, signer.verifier().public_pem())
    cert, key = pki.issue(BROKER_NAME, "broker", server_hosts=tuple(broker_hosts))
    pki.write_pair(folder / "broker", cert, key)
    cert, key = pki.issue(CENTRAL_NAME, "central")
    pki.write_pair(folder / "central", cert, key)
    return pki
