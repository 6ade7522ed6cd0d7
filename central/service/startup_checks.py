"""Start-up checks: every file central.toml names for the brokers is there and readable,
said at once in one line that names the key and the path (and the broker's host:port), before
anything is opened or connected.

Without them a missing TLS file showed only as a failed connection ("No such file or
directory", no name). The signing key and the network file are checked where they are
loaded (central/service/loading.py), with the same kind of message.
"""

from __future__ import annotations

import os
from pathlib import Path

from central.errors import ConfigError
from central.service.config import BrokerConfig, CentralConfig

# The [broker] keys that name a file central reads at start-up.
BROKER_FILE_KEYS = ("ca_file", "cert_file", "key_file", "password_file")


def check_files(config: CentralConfig) -> None:
    """ConfigError naming the first broker file (`broker.ca_file`, `brokers[1].key_file`,
    ...) that does not exist, is not a file or cannot be read, with its path and the
    broker's host:port. Returns None when every named file can be read."""
    single = not config.brokers
    for index, broker in enumerate(config.broker_list):
        section = "broker" if single else f"brokers[{index}]"
        for key, path in broker_files(broker):
            problem = file_problem(path)
            if problem is not None:
                raise ConfigError(
                    f"{section}.{key}: {path} {problem} (broker {broker.name} at "
                    f"{broker.address}); nothing was started"
                )


def broker_files(broker: BrokerConfig) -> list[tuple[str, Path]]:
    """(key, path) of every file a broker's section names."""
    named = ((key, getattr(broker, key)) for key in BROKER_FILE_KEYS)
    return [(key, Path(path)) for key, path in named if path is not None]


def file_problem(path: Path) -> str | None:
    """What keeps `path` from being read as a file ("does not exist", "is a folder",
    "cannot be read: Permission denied"), or None if it can be."""
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a file"
    if not os.access(path, os.R_OK):
        return "cannot be read by this user (permission denied)"
    return None
