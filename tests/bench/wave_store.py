"""Benchmark: one wave of the simulated day against each store engine, part by part.

The network is registered and every locker's slots are known and free first, as a running
day has them. Then a wave as hw_sim/network/central_process.py places it: the carriers'
milestone feed of a sample of the wave (hw_sim/network/carrier_feed.py: 250 parcels, about
2,000 milestones), the wave announced (ANNOUNCE_CHUNK per transaction), then placed and
reserved (central.capacity.reservations). Each part is timed on SQLite (the baseline) and
on a private PostgreSQL server (tests/postgres.py), with the round trips that waited for
the server (pipeline syncs) counted on PostgreSQL. Prints one line per part and engine,
and one JSON object on its last line.

    .venv/bin/python -m tests.bench.wave_store [--parcels 1000] [--seed 7] [--url URL]

`--url` uses a database on a server already running (a fresh one is created there)
instead of starting a private server.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from central.capacity.reservations import Reservations
from central.parcels.manifest import ParcelAnnouncement, generate_manifest
from central.parcels.milestone_feed import record_reports
from central.sites.network import Network, generate_network
from central.sites.registry import load_network
from central.store.base import CentralStore
from central.store.postgres import PostgresStore
from central.store.records import SlotRecord
from central.store.sqlite import SqliteStore
from hw_sim.network.carrier_feed import carrier_reports
from hw_sim.network.central_process import ANNOUNCE_CHUNK, announce_chunk
from protocols.vocabulary import SlotState
from tests.postgres import PrivatePostgres

T = TypeVar("T")

DAY_START = 1_750_000_000.0  # a fixed day, so runs compare
WAVE_AT = DAY_START + 3 * 3600.0  # the wave reaches central three hours in
HOLD_S = 4 * 3600.0  # a reservation's hold, as the day's config has it


class SyncCounter:
    """Counts psycopg pipeline syncs: each is one round trip that waits for the server."""

    def __init__(self) -> None:
        self.count = 0
        self._original: Callable[..., Any] = psycopg.Pipeline.sync

    @contextmanager
    def counting(self) -> Iterator[None]:
        original = self._original

        def sync(pipeline: psycopg.Pipeline) -> None:
            self.count += 1
            original(pipeline)

        setattr(psycopg.Pipeline, "sync", sync)  # noqa: B010 - patched for the count only
        try:
            yield
        finally:
            setattr(psycopg.Pipeline, "sync", original)  # noqa: B010


def seed_network(store: CentralStore, network: Network) -> None:
    """The network registered and every locker's slots known and free, as central has them
    once the day's sites have sent their first state snapshot."""
    with store.transaction() as session:
        load_network(session, network)
        for site in network.sites:
            slots = [
                SlotRecord(site.id, f"{size.value}{n:03d}", size.value, SlotState.FREE)
                for size, count in site.compartments.items()
                for n in range(1, count + 1)
            ]
            if slots:
                session.replace_slots(site.id, slots)


def run_wave(
    store: CentralStore, network: Network, wave: list[ParcelAnnouncement], counter: SyncCounter
) -> dict[str, dict[str, float]]:
    """Feed, announce and place `wave` on `store`: seconds and round trips of each part."""
    parts: dict[str, dict[str, float]] = {}
    seed_network(store, network)

    def timed(name: str, work: Callable[[], T]) -> T:
        before = counter.count
        started = time.perf_counter()
        with counter.counting():
            value = work()
        parts[name] = {
            "s": round(time.perf_counter() - started, 3),
            "syncs": counter.count - before,
        }
        return value

    feed = carrier_reports(wave, WAVE_AT, wave[0].label)
    fed = timed("feed", lambda: record_reports(store, feed, "carrier feed", WAVE_AT))
    parts["feed"]["milestones"] = len(feed)
    parts["feed"]["recorded"] = fed.recorded

    def announce_all() -> list[str]:
        labels: list[str] = []
        for start in range(0, len(wave), ANNOUNCE_CHUNK):
            labels += announce_chunk(store, wave[start : start + ANNOUNCE_CHUNK], WAVE_AT)
        return labels

    labels = timed("announce", announce_all)
    parts["announce"]["parcels"] = len(labels)
    placed = timed("place", lambda: Reservations(store, network, HOLD_S).place(labels, WAVE_AT))
    parts["place"]["parcels"] = placed.placed
    return parts


@contextmanager
def postgres_url(url: str | None) -> Iterator[str]:
    """A fresh database: on the server at `url`, or on a private server started here."""
    if url is not None:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        base = url.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        return
    with PrivatePostgres() as server:
        yield server.create_database()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", help="a PostgreSQL server to use instead of a private one")
    args = parser.parse_args(argv)
    network = generate_network(args.seed)
    wave = generate_manifest(network, args.parcels, args.seed, DAY_START)
    counter = SyncCounter()
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="wave-store-") as folder:
        sqlite_store = SqliteStore(Path(folder) / "central.db")
        try:
            results["sqlite"] = run_wave(sqlite_store, network, wave, counter)
        finally:
            sqlite_store.close()
    with postgres_url(args.url) as url:
        pg_store = PostgresStore(url)
        try:
            results["postgresql"] = run_wave(pg_store, network, wave, counter)
        finally:
            pg_store.close()
    for engine, parts in results.items():
        for part, figures in parts.items():
            shown = ", ".join(f"{k} {v}" for k, v in figures.items())
            print(f"{engine:10} {part:9} {shown}")
    ratios = {
        part: round(results["postgresql"][part]["s"] / max(figures["s"], 1e-6), 1)
        for part, figures in results["sqlite"].items()
    }
    print(json.dumps({"parcels": args.parcels, **results, "postgresql_over_sqlite": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
