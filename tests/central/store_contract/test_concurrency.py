"""Several central processes on one store: tasks claimed once, capacity never over-booked,
and a day's events replayed concurrently counted once. Every process is a fresh interpreter
("spawn"), with its own connections, as `lockernet central run` started N times."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from typing import Any

import pytest

from central.store.base import CentralStore
from central.store.records import TaskKind, TaskRecord
from tests.central.central_rig import label
from tests.central.store_contract import racers
from tests.central.store_contract.samples import T0
from tests.central.store_contract.stores import open_location

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT_S = 90.0


def run_processes(target: Any, args: list[tuple[Any, ...]]) -> None:
    """Start one spawned process per argument tuple, all at once; each must exit 0."""
    processes = [SPAWN.Process(target=target, args=a) for a in args]
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_TIMEOUT_S)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)


def test_a_claimed_task_is_not_run_twice_until_its_lease_runs_out(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.add_task(TaskRecord(TaskKind.REMIND, due_at=100.0, label=label(1)))
        assert session.claim_tasks(50.0, "a", 1000.0) == []  # not due yet
        [claimed] = session.claim_tasks(100.0, "a", 160.0)
        assert (claimed.kind, claimed.label, claimed.attempts) == ("remind", label(1), 1)
        assert session.claim_tasks(120.0, "b", 180.0) == []  # a holds the lease
        taken_over = session.claim_tasks(161.0, "b", 221.0)  # a died: b takes over
        assert [t.attempts for t in taken_over] == [2]
        session.finish_task(taken_over[0].id or 0, 162.0)
        assert session.claim_tasks(1e9, "c", 2e9) == []
        assert session.open_tasks() == []


def test_tasks_are_listed_open_by_kind_and_a_retry_waits_for_its_new_time(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        remind = session.add_task(
            TaskRecord(TaskKind.REMIND, T0 + 10, label(1), "L0001", '{"n":1}')
        )
        expire = session.add_task(TaskRecord(TaskKind.EXPIRE, T0, label(1)))
        assert remind != expire and remind > 0 and expire > 0
        assert [t.id for t in session.open_tasks()] == [expire, remind]  # by due time
        [only] = session.open_tasks(TaskKind.REMIND)
        assert only == TaskRecord(TaskKind.REMIND, T0 + 10, label(1), "L0001", '{"n":1}', id=remind)
        assert [t.id for t in session.claim_tasks(T0 + 10, "a", T0 + 70)] == [expire, remind]
        session.finish_task(expire, T0 + 1)
        session.retry_task(remind, T0 + 100, "site unreachable: " + "x" * 5_000)
        assert [t.id for t in session.claim_tasks(T0 + 99, "b", T0 + 160)] == []
        [again] = session.claim_tasks(T0 + 100, "b", T0 + 160)
        assert again.id == remind and again.attempts == 2
        assert again.last_error is not None and again.last_error.startswith("site unreachable")
        assert len(again.last_error) < 5_000  # cut to fit
        assert [t.id for t in session.open_tasks()] == [remind]


def add_due_tasks(store: CentralStore, count: int) -> set[int]:
    with store.transaction() as session:
        return {
            session.add_task(TaskRecord(TaskKind.REMIND, racers.NOW - n, label(n)))
            for n in range(1, count + 1)
        }


def test_two_threads_never_claim_the_same_task(store_location: str) -> None:
    store = open_location(store_location)
    ids = add_due_tasks(store, 120)
    store.close()
    results = SPAWN.Queue()  # a thread-safe queue is all the threads need, too
    threads = [
        threading.Thread(target=racers.claim_all, args=(store_location, owner, results))
        for owner in ("a", "b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    claims = [results.get(timeout=5) for _ in threads]
    assert Counter(i for claim in claims for i in claim) == Counter(ids)  # each exactly once


def test_two_processes_never_claim_the_same_task(store_location: str) -> None:
    store = open_location(store_location)
    ids = add_due_tasks(store, 120)
    store.close()
    results = SPAWN.Queue()
    run_processes(racers.claim_all, [(store_location, owner, results) for owner in ("a", "b")])
    claims = [results.get(timeout=5) for _ in range(2)]
    assert Counter(i for claim in claims for i in claim) == Counter(ids)


def run_threads(target: Any, args: list[tuple[Any, ...]]) -> None:
    """One thread per argument tuple, all at once, each with its own store object."""
    threads = [threading.Thread(target=target, args=a) for a in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("racing", ["threads", "processes"])
@pytest.mark.parametrize("with_snapshot", [True, False], ids=["snapshot", "network-file"])
def test_racers_placing_at_once_never_over_book(
    store_location: str, racing: str, with_snapshot: bool
) -> None:
    racers.prepare_placement(store_location, 32, with_snapshot)
    labels = [label(n) for n in range(1, 33)]
    run = run_processes if racing == "processes" else run_threads
    run(racers.place, [(store_location, labels[i::4]) for i in range(4)])
    store = open_location(store_location)
    with store.transaction() as session:
        held = session.held_reservations()
        modes = Counter(session.get_parcel(one).delivery_mode for one in labels)  # type: ignore[union-attr]
    store.close()
    per_site = Counter(r.site for r in held)
    # L0001's five compartments (an S parcel fits every one), then the next locker's three
    # M ones, then the counter's shelf of three: each full, none beyond.
    assert (per_site["L0001"], per_site["L0002"], per_site["C0001"]) == (5, 3, 3)
    assert modes == {"locker": 8, "counter": 3, "home": 21}
    if with_snapshot:  # its slots are known: each held once
        slots = [r.slot for r in held if r.site == "L0001"]
        assert sorted(slots) == ["A", "B", "C", "D", "E"]  # type: ignore[type-var]


def test_processes_reserving_by_hand_under_the_site_lock_never_over_book(
    store_location: str,
) -> None:
    racers.prepare_placement(store_location, 0)
    results = SPAWN.Queue()
    run_processes(
        racers.reserve_by_hand, [(store_location, 1 + 100 * i, 12, results) for i in range(4)]
    )
    outcomes = [results.get(timeout=5) for _ in range(4)]
    store = open_location(store_location)
    with store.transaction() as session:
        slots = sorted(r.slot or "" for r in session.held_reservations("L0001"))
        shelf = session.held_count(racers.COUNTER)
    store.close()
    assert slots == ["A", "B"]  # L0001's two S compartments, each once
    assert shelf == racers.COUNTER_ROOM
    assert sum(held for _, held in outcomes) == 2 + racers.COUNTER_ROOM
    # Under the lock no process ever read a slot another was taking: no conflict at all.
    assert sum(conflicts for conflicts, _ in outcomes) == 0
