"""Console and API logins: who is calling, and whether their role may.

A login is a row of `operator_users` (name, role, scrypt hash of the password with a salt of
its own). Signing in puts the name in a signed session cookie (Starlette's
SessionMiddleware, keyed from `[api] session_secret_file`, valid `session_max_age_s`); each
request then reads the login again, so a login disabled with `lockernet users disable` is
out at its next request, not when its cookie runs out.

Roles, each including the one before: viewer reads; technician also runs diagnostics, takes
slots out of service and opens doors remotely; operator does everything (acknowledges
alarms, issues and revokes badges).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status

from central.errors import ConfigError
from central.store import CentralStore
from central.store.queries.users import UserRecord

# scrypt's cost (RFC 7914): n=2**14, r=8 is the interactive-login setting the RFC and
# OWASP name; about 16 MiB and 50 ms a check on a server core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
SECRET_BYTES = 32  # the session key: 256 bits
SESSION_COOKIE = "lockernet_session"
SESSION_SINCE = "since"  # the session's key for when the login was made (Unix s)
# Guessing a password: after this many wrong tries of one name from one address within the
# window, that address is refused the name (its right password too) until the oldest try
# leaves the window. Counted per address too, or five tries a quarter hour from anyone would
# keep the login's owner out for good; many addresses at once still hit the name's own cap.
# Per process: a deployment of N processes allows N times as many, still far from a useful
# guess rate.
LOGIN_FAILURES_MAX = 5
LOGIN_FAILURES_MAX_PER_NAME = 10 * LOGIN_FAILURES_MAX
LOGIN_WINDOW_S = 900.0
_THROTTLE_KEYS_MAX = 10_000  # keys remembered at once (a flood of made-up names is capped)
# Logins are at most 32 characters (users_cli.NAME): a longer name is remembered cut short,
# so a flood of long made-up names costs no memory beyond the cap of keys.
_NAME_KEPT_CHARS = 64


class Role(enum.StrEnum):
    """What a login may do; each role can do what the ones below it can."""

    OPERATOR = "operator"
    TECHNICIAN = "technician"
    VIEWER = "viewer"


_RANK = {Role.VIEWER: 0, Role.TECHNICIAN: 1, Role.OPERATOR: 2}


@dataclass(frozen=True)
class User:
    """A signed-in login."""

    name: str
    role: Role


def hash_password(password: str) -> str:
    """The stored form of a password: "scrypt$N$r$p$salt_hex$hash_hex"."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    """Whether `password` is the one `stored` (from hash_password) was made from."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        actual = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(expected, actual)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=HASH_BYTES
    )


class LoginThrottled(Exception):
    """Too many wrong passwords for one name lately: try again after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            f"too many failed logins for this name: try again in {int(retry_after_s) + 1} s"
        )
        self.retry_after_s = retry_after_s


class LoginThrottle:
    """Failed logins by name, and by name and client address, over a sliding window
    (seconds of `clock`, monotonic): `max_failures` from one address, `max_per_name` from
    all addresses together."""

    def __init__(
        self,
        max_failures: int = LOGIN_FAILURES_MAX,
        window_s: float = LOGIN_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_per_name: int = LOGIN_FAILURES_MAX_PER_NAME,
    ) -> None:
        self.max_failures = max_failures
        self.max_per_name = max_per_name
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str | None], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, name: str, address: str | None = None) -> None:
        """LoginThrottled if `name` has used up its tries from `address` (a client's IP
        address; None: unknown), or from every address together, in the window."""
        with self._lock:
            limits = (
                (_key(name, address), self.max_failures),
                (_key(name, None), self.max_per_name),
            )
            for key, most in limits:
                tries = self._recent(key)
                if len(tries) >= most:
                    raise LoginThrottled(tries[0] + self.window_s - self._clock())

    def failed(self, name: str, address: str | None = None) -> None:
        """Count one wrong try of `name` from `address`."""
        with self._lock:
            now = self._clock()
            keys = {_key(name, address), _key(name, None)}
            for key in keys:
                tries = self._failures.setdefault(key, deque())
                self._forget_old(tries)
                tries.append(now)
            while len(self._failures) > _THROTTLE_KEYS_MAX:
                self._failures.pop(next(iter(self._failures)))  # the longest remembered

    def succeeded(self, name: str, address: str | None = None) -> None:
        """A right password from `address`: its count for the name starts again (the
        name's count over every address stays: others may still be guessing)."""
        with self._lock:
            self._failures.pop(_key(name, address), None)

    def _recent(self, key: tuple[str, str | None]) -> deque[float]:
        tries = self._failures.get(key)
        if tries is None:
            return deque()  # nothing kept for a name never got wrong
        self._forget_old(tries)
        return tries

    def _forget_old(self, tries: deque[float]) -> None:
        cutoff = self._clock() - self.window_s
        while tries and tries[0] <= cutoff:
            tries.popleft()


def _key(name: str, address: str | None) -> tuple[str, str | None]:
    return name.casefold()[:_NAME_KEPT_CHARS], address


def verify_login(
    store: CentralStore,
    name: str,
    password: str,
    throttle: LoginThrottle,
    address: str | None = None,
) -> User | None:
    """The login if `name` exists, is not disabled and `password` is its password; None
    otherwise (one answer for every failure: a caller cannot learn which names exist).
    LoginThrottled, before any check, once a name had LOGIN_FAILURES_MAX wrong tries from
    `address` (the client's IP address: client_address(request)), or
    LOGIN_FAILURES_MAX_PER_NAME from all, in LOGIN_WINDOW_S (`throttle`: the app's own,
    WebContext.login_throttle)."""
    throttle.check(name, address)
    with store.transaction() as session:
        record = session.get_user(name)
    if record is None or record.disabled_at is not None:
        # Checked all the same, so an unknown name costs what a wrong password does and
        # the time taken tells nobody which names exist.
        check_password(_decoy_hash(), password)
        throttle.failed(name, address)
        return None
    if not check_password(record.password_hash, password):
        throttle.failed(name, address)
        return None
    throttle.succeeded(name, address)
    return _user(record)


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_hex(8))


def _user(record: UserRecord) -> User | None:
    try:
        return User(record.name, Role(record.role))
    except ValueError:
        return None  # a role this build does not know gets nothing


def client_address(request: Request) -> str | None:
    """The caller's IP address, as the server saw it (behind a proxy on this machine,
    uvicorn takes it from X-Forwarded-For); None if unknown."""
    return request.client.host if request.client is not None else None


def start_session(request: Request, user: User) -> None:
    """Sign `user` in: their name and the time (Unix s) go in the session cookie set with
    the response."""
    request.session.clear()
    request.session["user"] = user.name
    request.session[SESSION_SINCE] = int(time.time())


def end_session(request: Request) -> None:
    """Sign out: the session cookie is emptied with the response."""
    request.session.clear()


def current_user_or_none(request: Request) -> User | None:
    """The signed-in login of this request, read again from the store (a disabled login,
    or one removed, is signed out, as is one made over `[api] session_max_age_s` ago);
    None if nobody is signed in."""
    name = request.session.get("user") if "session" in request.scope else None
    if not isinstance(name, str):
        return None
    from central.store.open import open_reader

    ctx = request.app.state.ctx
    # Starlette signs the cookie again with every answer, so its own max_age never runs
    # out for a session in use (a stolen cookie used now and then would last for ever):
    # a login lasts session_max_age_s from when it was made, in real time.
    since = request.session.get(SESSION_SINCE)
    if not isinstance(since, int) or time.time() - since > ctx.config.api.session_max_age_s:
        request.session.clear()
        return None
    with open_reader(ctx.reader_location) as reader:
        record = reader.view.get_user(name)
    if record is None or record.disabled_at is not None:
        request.session.clear()
        return None
    return _user(record)


def require_role(*roles: Role) -> Callable[[Request], User]:
    """A FastAPI dependency: the signed-in login if its role is one of `roles` or above the
    lowest of them; 401 if nobody is signed in, 403 naming the role needed otherwise."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    lowest = min(roles, key=lambda r: _RANK[r])

    def dependency(request: Request) -> User:
        user = current_user_or_none(request)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="not signed in: POST /api/login with your name and password",
            )
        if _RANK[user.role] < _RANK[lowest]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the {lowest.value} role or above; {user.name} is "
                f"{user.role.value}",
            )
        return user

    return dependency


def session_secret(path: Path) -> str:
    """The key that signs session cookies, read from `path`; made (0600, 256 random bits)
    if the file is missing. ConfigError naming the file if it cannot be read or made."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"api.session_secret_file {path}: cannot create it ({exc})") from None
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"api.session_secret_file {path}: cannot read it ({exc})") from None
    if len(secret) < SECRET_BYTES:
        raise ConfigError(
            f"api.session_secret_file {path}: holds {len(secret)} characters, needs at least "
            f"{SECRET_BYTES} (delete it and a new one is made)"
        )
    return secret


def session_middleware_options(secret_file: Path, max_age_s: int) -> dict[str, Any]:
    """SessionMiddleware's keyword arguments for central's cookie."""
    return {
        "secret_key": session_secret(secret_file),
        "session_cookie": SESSION_COOKIE,
        "max_age": max_age_s,
        # Not sent on cross-site POSTs: another site's form cannot act as a signed-in operator.
        "same_site": "strict",
    }
