"""Faults of a site's store, played on its files while its agent is stopped: the store lost
(a corrupt SD card deleted, a spare Pi swapped in) and the store rolled back (a card that
acknowledged writes it had not made, so the last committed transactions are gone).

Either way the restarted agent numbers its next events with seqs central has seen: a lost
store from 1 in a new epoch, a rolled-back one from a lower seq in the same epoch. Central
must tell both from duplicates (central/sites/streams.py), apply every new event once, and alarm.

How the simulator's day plays them on one site (the agent stopped and restarted around):

    lose_store(path)                       # agent stopped; then restart it

    cut = PowerCut(path)                   # while the agent runs
    await agent.stop()                     # the WAL stays, as a power cut leaves it
    cut.cut()
    roll_back_store(path, events=2)        # then restart the agent

A rollback cuts the WAL at a frame boundary (SQLite's WAL format, sqlite.org/fileformat2:
a 32-byte header, then frames of a 24-byte header and one page; a frame whose header gives
the database size after commit ends a transaction). Frames after the cut are as if never
written: the transactions they ended are gone, whole.
"""

from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.store.sqlite import Store
from hw_sim.errors import HwSimError

WAL_HEADER_BYTES = 32  # sqlite.org/fileformat2.html#walformat
WAL_FRAME_HEADER_BYTES = 24
STORE_SUFFIXES = ("", "-wal", "-shm", "-journal")
# How long the process that holds the store open may take to open it.
HOLDER_READY_TIMEOUT_S = 10.0
# The name a cut copy of a store is opened under (its lock file, in the copy's folder).
PROBE_SITE = "rolled-back-copy"


class StoreFaultError(HwSimError):
    """A store fault could not be played as asked (no WAL to cut, not enough in it)."""


def lose_store(path: Path) -> list[Path]:
    """The site's store is gone (its files deleted): the agent must be stopped. Returns the
    files deleted; the restarted agent creates a new store, with a new epoch."""
    removed = []
    for suffix in STORE_SUFFIXES:
        file = Path(f"{path}{suffix}")
        if file.exists():
            file.unlink()
            removed.append(file)
    if not removed:
        raise StoreFaultError(f"no store at {path} to lose")
    return removed


class PowerCut:
    """Hold a site's store open from another process, so that the agent's orderly stop does
    not checkpoint its WAL into the database (SQLite does that only when the last connection
    closes); `cut` then kills that process, leaving the files as a power cut would."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        script = (
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1])\n"
            "db.execute('SELECT count(*) FROM sqlite_master').fetchall()\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n"
        )
        self._holder = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", script, str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._holder.stdout is not None
        line = self._holder.stdout.readline()
        if line.strip() != "ready":
            self._holder.kill()
            raise StoreFaultError(f"could not hold {self.path} open: {line!r}")

    def cut(self) -> None:
        """The power goes: the holder dies without closing, the WAL stays as it is."""
        self._holder.send_signal(signal.SIGKILL)
        self._holder.wait(timeout=HOLDER_READY_TIMEOUT_S)


@dataclass(frozen=True)
class RolledBack:
    commits_cut: int  # transactions lost, whole
    last_seq_before: int
    last_seq_after: int


def roll_back_store(path: Path, events: int = 1) -> RolledBack:
    """Lose the store's last committed transactions, back to before its last `events`
    events were written, by cutting its WAL at a commit frame. The agent must be stopped and
    the WAL left on disk (PowerCut). Raises StoreFaultError if the WAL does not hold that
    many events (a checkpoint already wrote them to the database file)."""
    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size <= WAL_HEADER_BYTES:
        raise StoreFaultError(f"{wal}: no WAL to cut (was the store closed, not cut off?)")
    ends = commit_ends(wal.read_bytes())
    before = _last_seq_with(path, wal.stat().st_size)
    for cut in range(1, len(ends) + 1):
        keep = ends[-cut - 1] if cut < len(ends) else WAL_HEADER_BYTES
        after = _last_seq_with(path, keep)
        if after <= before - events:
            with wal.open("r+b") as file:
                file.truncate(keep)
            # The wal-index describes the frames cut: SQLite rebuilds it from the WAL.
            Path(f"{path}-shm").unlink(missing_ok=True)
            return RolledBack(cut, before, after)
    raise StoreFaultError(
        f"{wal}: its {len(ends)} transactions hold fewer than {events} events "
        f"(last seq {before}): a checkpoint already wrote the rest to {path}"
    )


def commit_ends(wal: bytes) -> list[int]:
    """Byte offsets just past each valid commit frame of a WAL file, in order. Frames are
    valid while their salts match the header's (a WAL restarted after a checkpoint leaves
    older frames behind with other salts); a torn last frame ends the list."""
    if len(wal) < WAL_HEADER_BYTES:
        return []
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    frame = WAL_FRAME_HEADER_BYTES + page_size
    ends = []
    offset = WAL_HEADER_BYTES
    while offset + frame <= len(wal):
        header = wal[offset : offset + WAL_FRAME_HEADER_BYTES]
        if header[8:16] != salts:
            break
        offset += frame
        if struct.unpack(">I", header[4:8])[0] != 0:  # database size after commit
            ends.append(offset)
    return ends


def _last_seq_with(path: Path, wal_bytes: int) -> int:
    """The last seq the store would have with its WAL cut to `wal_bytes`: a copy so cut,
    opened as the agent would open it and asked through the store's own API."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        with Path(f"{path}-wal").open("rb") as source, Path(f"{copy}-wal").open("wb") as dest:
            dest.write(source.read(wal_bytes))
        store = Store(copy, site=PROBE_SITE, durable=False)
        try:
            return store.last_seq()
        finally:
            store.close()
