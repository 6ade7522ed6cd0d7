"""One owner per site: the lock a site agent holds on its state folder while it runs.

Two agents for one site would fight for the lock bus, take each other's MQTT client id
(the broker drops the older session each time the other reconnects) and write the same store.
So the first thing an agent does, before it opens the store, a serial port or the broker, is
take an exclusive advisory lock (flock) on `<state_dir>/<site>.lock` and write its pid there.
A second agent for the same site fails at once with `SiteOwned`, naming the first one's pid
and the lock file, and has changed nothing.

flock, not a pid file alone: the kernel drops the lock when its owner exits, even after
`kill -9` or a power cut, so a stale file never keeps a site down. Locks are per open file,
so two agents in one process (the fleet simulator) exclude each other as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from edge.errors import EdgeError


class SiteOwned(EdgeError):
    """Another agent already owns this site (its lock, or its live control socket)."""

    def __init__(self, site: str, lock_path: Path, owner_pid: int | None, detail: str = "") -> None:
        self.site = site
        self.lock_path = lock_path
        self.owner_pid = owner_pid
        who = f"pid {owner_pid}" if owner_pid is not None else "another process"
        super().__init__(
            f"site {site} is already run by {who} (lock file {lock_path}{detail}); "
            "stop that agent first (systemctl stop lockernet-edge) - this one changed nothing"
        )


def lock_path(state_dir: Path, site: str) -> Path:
    return Path(state_dir) / f"{site}.lock"


class SiteLock:
    """An exclusive lock on one site's state folder, held from `acquire` to `release`."""

    def __init__(self, path: Path, site: str) -> None:
        self.path = Path(path)
        self.site = site
        self._fd: int | None = None

    @classmethod
    def acquire(cls, state_dir: Path, site: str) -> SiteLock:
        """Take the site's lock or raise SiteOwned (never waits). Creates the state folder.

        Raises SiteOwned when another agent holds it; OSError (naming the file) when the
        folder cannot be written.
        """
        lock = cls(lock_path(state_dir, site), site)
        lock._take()
        return lock

    def _take(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: the file may be the running owner's, whose pid it holds.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_pid(fd)
            os.close(fd)
            raise SiteOwned(self.site, self.path, owner) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the site up (idempotent). The file stays: removing it would race a newcomer
        that has opened it but not yet locked it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def socket_is_live(path: Path) -> bool:
    """True if a process accepts connections on the Unix socket at `path`; False if there
    is no socket or only a stale one (its owner gone: connecting is refused)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True
