"""The unsubscribe link in every e-mail: a consumer stops e-mails with one click, and only
the holder of a message to an address can stop that address's e-mails.

The link carries the address and an HMAC-SHA256 of it under a key of central's own
(`[notify] link_secret_file`, made on first use, 0600), so a forged link for someone else's
address is refused. Every central process of a deployment reads the same file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from central.errors import ConfigError

KEY_BYTES = 32
TOKEN_BYTES = 16
PATH = "/api/notify/unsubscribe"


def link_key(path: Path) -> bytes:
    """The link key in `path`, made there (0600) when missing. ConfigError naming the file
    when it cannot be made or read, or is too short."""
    if not path.exists():
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        except OSError as exc:
            raise ConfigError(f"notify.link_secret_file {path}: cannot create it ({exc})") from None
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"notify.link_secret_file {path}: cannot read it ({exc})") from None
    if len(text) < KEY_BYTES:
        raise ConfigError(
            f"notify.link_secret_file {path}: holds {len(text)} characters, needs at least "
            f"{KEY_BYTES} (delete it and a new one is made)"
        )
    return text.encode()


def token(key: bytes, recipient: str) -> str:
    """The link's token for an e-mail address (normal form): URL-safe base64, 22 chars."""
    digest = hmac.new(key, f"email:{recipient}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode().rstrip("=")


def token_matches(key: bytes, recipient: str, given: str) -> bool:
    """True if `given` is the token of `recipient` (compared in constant time)."""
    return hmac.compare_digest(token(key, recipient).encode(), given.encode("utf-8", "replace"))


def unsubscribe_url(public_url: str, key: bytes, recipient: str) -> str:
    """The link for `recipient` under the API's public address."""
    base = public_url.rstrip("/")
    return f"{base}{PATH}?address={quote(recipient)}&token={token(key, recipient)}"
