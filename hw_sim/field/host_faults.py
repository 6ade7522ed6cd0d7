"""Faults of a site's computer rather than of its devices: a disk that fills, and a second
agent started by mistake. The simulator's day (hw_sim/network/field_day.py) plays them on one site's
running SiteAgent; the verdict holds when no door opened without its record and the second
agent was refused.

A full disk, for real: the site's SQLite refuses writes itself (SQLITE_FULL). A small tmpfs
would need root, so the file's size is capped instead (`Store.cap_pages`, SQLite's
max_page_count) after a ballast table has taken the file's free pages. As on a real full
card, a write that still fits in a page's spare room may succeed; the first that needs a new
page fails, and so do all later ones of its kind until space returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.agent import SiteAgent
from edge.host.ownership import SiteOwned

# What "other files on the card" are made of: a table the agent never reads.
MAKE_BALLAST = "CREATE TABLE IF NOT EXISTS hw_sim_ballast (junk BLOB)"
ADD_BALLAST = "INSERT INTO hw_sim_ballast VALUES (zeroblob(?))"
DROP_BALLAST = "DROP TABLE IF EXISTS hw_sim_ballast"
# How long `lockernet edge run` may take to refuse: it must exit before opening anything.
SECOND_AGENT_TIMEOUT_S = 15.0


class DiskFull:
    """One site's store on a card that fills up (`fill`) and gets space back (`free`)."""

    def __init__(self, agent: SiteAgent) -> None:
        self.agent = agent
        self.full = False

    def fill(self) -> None:
        """The card is full from now on: take the file's free pages, then cap its size."""
        store = self.agent.store
        # A second connection, as another program on the card would be; between the
        # agent's transactions (one loop), so it never waits for the agent's lock.
        with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as db:
            db.execute(MAKE_BALLAST)
            page = int(db.execute("PRAGMA page_size").fetchone()[0])
            while int(db.execute("PRAGMA freelist_count").fetchone()[0]) > 0:
                db.execute(ADD_BALLAST, (page,))
        store.cap_pages(store.page_count())
        self.full = True

    def free(self) -> None:
        """Space is back: the cap is lifted and the ballast goes."""
        store = self.agent.store
        store.cap_pages(None)
        with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as db:
            db.execute(DROP_BALLAST)
        self.full = False

    def set(self, on: bool) -> None:
        """The simulator's switch: `set(True)` fills, `set(False)` frees."""
        if on:
            self.fill()
        else:
            self.free()


@dataclass(frozen=True)
class SecondAgent:
    """What happened to a second agent started for a running site."""

    refused: bool
    message: str  # the refusal as the technician reads it (names the owner's pid, lock file)
    owner_pid: int | None = None
    exit_code: int | None = None  # for a process


def start_second_agent(agent: SiteAgent) -> SecondAgent:
    """Start a second SiteAgent with the running `agent`'s configuration, in this process,
    as a mistaken second service or a technician's `lockernet edge run` would; it must be
    refused before it opens anything. If it was not refused (the guarantee broken), it is
    closed again at once and the outcome says so."""
    try:
        second = SiteAgent(
            agent.config,
            clock=agent.clock,
            verifier=agent.verifier,
            durable=False,
        )
    except SiteOwned as exc:
        return SecondAgent(True, str(exc), exc.owner_pid)
    second.store.close()
    return SecondAgent(False, f"a second agent for {agent.site} opened its store")


async def start_second_agent_process(
    config_file: Path, timeout_s: float = SECOND_AGENT_TIMEOUT_S
) -> SecondAgent:
    """Run `lockernet edge run --config config_file` beside a running agent; it must exit
    non-zero at once. A process still running after `timeout_s` is terminated and reported
    as not refused."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "protocols.cli",
        "edge",
        "run",
        "--config",
        str(config_file),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.terminate()
        await proc.wait()
        return SecondAgent(False, f"still running after {timeout_s} s", exit_code=proc.returncode)
    message = err.decode(errors="replace").strip()
    return SecondAgent(proc.returncode != 0, message, exit_code=proc.returncode)
