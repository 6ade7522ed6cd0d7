"""The original Pi put back after a spare stood in: a site's store that central saw replaced
comes back (issue 11, kind 1, the way back).

A technician swaps a spare in while the site's own Pi is repaired, then puts the original
back, card and all: the site speaks again with the store (the epoch) central had closed when
the spare's new one appeared. Central must follow it as the site's stream again (its state,
its gaps asked for, its heartbeats' last_seq heard), not as a stream the site had left
(central/sites/streams.py, `resumes`).

How the simulator's day plays it on one site (its agent stopped around each swap):

    await site.agent.stop()
    kept = set_aside_store(site.agent.store.path)   # the original card, out of the Pi
    site.agent = site.rebuild(); await site.agent.start()   # the spare, a new store
    ...
    await site.agent.stop()
    put_back_store(site.agent.store.path, kept)     # the spare's store gone, the original back
    site.agent = site.rebuild(); await site.agent.start()

and then `followed_stream(central_store, site_id, site.agent)` says whether central follows
the store the site runs on (None when it does: the verdict counts anything else as broken).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hw_sim.field.store_faults import STORE_SUFFIXES, StoreFaultError, lose_store

if TYPE_CHECKING:
    from central.store import CentralStore
    from edge.agent import SiteAgent

# Where the original card's files wait, beside the store (`<store>.original<suffix>`).
ASIDE = ".original"


def set_aside_store(path: Path) -> Path:
    """Move the site's store files aside (the agent must be stopped): the original card taken
    out. Returns the base path they were moved to, for `put_back_store`."""
    path = Path(path)
    aside = Path(f"{path}{ASIDE}")
    moved = 0
    for suffix in STORE_SUFFIXES:
        file = Path(f"{path}{suffix}")
        if file.exists():
            shutil.move(file, Path(f"{aside}{suffix}"))
            moved += 1
    if not moved:
        raise StoreFaultError(f"no store at {path} to set aside")
    return aside


def put_back_store(path: Path, aside: Path) -> None:
    """Delete the store at `path` (the spare's; the agent must be stopped) and put the files
    set aside at `aside` back in its place."""
    path, aside = Path(path), Path(aside)
    if not Path(f"{aside}{STORE_SUFFIXES[0]}").exists():
        raise StoreFaultError(f"no store set aside at {aside}")
    lose_store(path)
    for suffix in STORE_SUFFIXES:
        file = Path(f"{aside}{suffix}")
        if file.exists():
            shutil.move(file, Path(f"{path}{suffix}"))


def followed_stream(central: CentralStore, site: str, agent: SiteAgent) -> str | None:
    """None if central's current stream for `site` is the store the agent runs on; else
    what central follows instead (for the verdict)."""
    with central.transaction() as session:
        current = session.stream(site)
    if current.epoch == agent.store.epoch and current.current:
        return None
    return (
        f"{site}: central follows stream {current.epoch or '(none)'}, the site runs on "
        f"{agent.store.epoch}"
    )
