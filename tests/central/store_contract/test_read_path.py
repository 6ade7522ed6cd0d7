"""The read path on every store (`open_reader`): it reads what was committed, never what a
writer has not committed yet, never waits for that writer, reads one moment per `with`
block, and cannot write."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from central.store.base import CentralStore
from central.store.open import open_reader
from central.store.records import AlarmRecord, ParcelState
from tests.central.central_rig import label
from tests.central.store_contract.samples import SITE, T0, parcel

READ_WITHOUT_WAITING_S = 1.0  # a read that waited for the writer would take its 30 s


def fill(store: CentralStore) -> None:
    with store.transaction() as session:
        session.save_parcel(parcel(1, state=ParcelState.COLLECTED))
        session.save_parcel(parcel(2, state=ParcelState.ANNOUNCED))
        session.open_alarm(AlarmRecord(SITE, "door_forced", T0, ref="A"))


def test_the_reader_sees_what_was_committed(any_store: CentralStore, store_location: str) -> None:
    fill(any_store)
    with open_reader(store_location) as reader:
        assert reader.parcel_count() == 2
        assert reader.parcel_states() == {"announced": 1, "collected": 1}
        assert reader.alarm_counts() == {"door_forced": (1, 1)}
        assert reader.view.get_parcel(label(1)) == parcel(1, state=ParcelState.COLLECTED)


def test_a_read_while_a_writer_holds_its_transaction_returns_at_once_without_its_writes(
    any_store: CentralStore, store_location: str
) -> None:
    fill(any_store)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with any_store.transaction() as session:
            session.lock_site(SITE)
            session.save_parcel(parcel(3))
            session.claim_parcel(label(2), ["announced"])  # a parcel's row held, too
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10), "the writer never began"
        started = time.monotonic()
        with open_reader(store_location) as reader:
            count = reader.parcel_count()
            second = reader.view.get_parcel(label(2))
        took = time.monotonic() - started
    finally:
        release.set()
        thread.join(10)
    assert took < READ_WITHOUT_WAITING_S, f"a read waited {took:.2f}s behind a writer"
    assert count == 2 and second is not None  # the last commit, not the writer's parcel 3
    with open_reader(store_location) as reader:
        assert reader.parcel_count() == 3


def test_a_with_block_reads_one_moment_and_a_call_outside_one_the_newest(
    any_store: CentralStore, store_location: str
) -> None:
    fill(any_store)
    reader = open_reader(store_location)
    try:
        assert reader.parcel_count() == 2
        with any_store.transaction() as session:
            session.save_parcel(parcel(3))
        assert reader.parcel_count() == 3
    finally:
        reader.close()
    with open_reader(store_location) as reader:
        assert reader.parcel_count() == 3
        with any_store.transaction() as session:
            session.save_parcel(parcel(4))
        assert reader.parcel_count() == 3
        assert reader.view.get_parcel(label(4)) is None


def test_the_reader_cannot_write(any_store: CentralStore, store_location: str) -> None:
    fill(any_store)
    with open_reader(store_location) as reader:
        writes = cast(Any, reader.view)  # a StoreView has no writes; its connection none either
        with pytest.raises(reader.errors):
            writes.save_parcel(parcel(9))
    with open_reader(store_location) as reader:
        assert reader.view.get_parcel(label(9)) is None
