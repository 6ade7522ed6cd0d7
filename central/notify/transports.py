"""What a channel's transport is, and how it says a send failed."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from central.errors import ConfigError
from central.parcels.pickup_codes import make_private_folder, write_private
from central.store.queries.notifications import NotificationRecord


def read_secret(path: Path, key: str) -> str:
    """A secret kept in a file (a password, an API key), stripped. ConfigError naming the
    config key and the file when it cannot be read or is empty."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key} {path}: cannot read it ({exc.strerror or exc})") from None
    if not text:
        raise ConfigError(f"{key} {path}: is empty")
    return text


class SendFailed(Exception):
    """A send that did not go through. `permanent`: never retry (a bad address, a refused
    recipient); else retry, no sooner than `retry_after_s` when the provider said so."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class Transport(Protocol):
    """Delivers one queued message on its channel."""

    def send(self, notification: NotificationRecord) -> str | None:
        """Send it; returns the provider's reference for it (None if it gives none).
        Raises SendFailed."""
        ...


class FolderTransport:
    """The default when a channel has no server configured: writes each message to
    `<label>.<message>.<channel>.<id>.txt` in a private folder (0700; files 0600: a pickup
    code opens a door). The simulator and development read them there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, notification: NotificationRecord) -> str | None:
        """Write the message; SendFailed (retried) if the folder cannot be written."""
        n = notification
        name = f"{n.label}.{n.message}.{n.channel}.{n.id}.txt"
        head = f"To: {n.recipient}\n" + (f"Subject: {n.subject}\n" if n.subject else "")
        try:
            make_private_folder(self.folder)
            write_private(self.folder / name, (head + "\n" + n.body).encode("utf-8"))
        except OSError as exc:
            raise SendFailed(f"cannot write {self.folder / name}: {exc}") from exc
        return name
