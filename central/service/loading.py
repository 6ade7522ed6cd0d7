"""What central loads from files named in its config: its signing key, the network file."""

from __future__ import annotations

from central.errors import ConfigError
from central.service.config import CentralConfig
from central.sites.network import Network, NetworkFileError, load_network
from protocols.tokens import TokenSigner


def load_signer(config: CentralConfig) -> TokenSigner:
    """Central's Ed25519 signing key from `keys.signing_key`; ConfigError naming the key and
    the file if it is missing, unreadable or not such a key."""
    path = config.keys.signing_key
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"keys.signing_key: {path} does not exist "
            "(make one with: lockernet central keygen --out <file>)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"keys.signing_key: cannot read {path}: {exc.strerror}") from None
    try:
        return TokenSigner.from_pem(pem)
    except ValueError as exc:
        raise ConfigError(
            f"keys.signing_key: {path} is not an Ed25519 private key: {exc}"
        ) from None


def load_configured_network(config: CentralConfig) -> Network | None:
    """The network file `network.file` names (None if it names none); ConfigError naming
    the key if the file cannot be used."""
    if config.network.file is None:
        return None
    try:
        return load_network(config.network.file)
    except NetworkFileError as exc:
        raise ConfigError(f"network.file: {exc}") from None
