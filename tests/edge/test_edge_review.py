"""Guarantees the site core must keep across its rewrite into decisions and a shell.

Each test drives the shell with its real SQLite store and a fake lock-bus driver (no broker,
no pty), or the uplink against a real refused TCP port, and checks one promise the agent made
before the rewrite: a refusal the store could not record starts no lockout, a courier's badge
needs no write, and an uplink whose reconnect cap is below its minimum still reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.agent import SiteAgent
from edge.config import BrokerConfig, parse_config
from edge.site.slots import Trigger
from edge.store.sqlite import StoreUnavailable
from edge.uplink.mqtt import SiteLink
from hw_sim.field.host_faults import DiskFull
from protocols.clock import ManualClock, SystemClock
from protocols.messages import DoorClosed, SizeClass, StateSnapshot
from protocols.scanner import ScannedCode
from protocols.tokens import CourierBadge, PickupCode, TokenSigner
from tests.edge.rig import labels
from tests.edge.test_site_shell import LOCKS, FakeBoards
from tests.eventually import eventually_async

SITE = "L0001"
FAILURES = 3  # scan_failures_before_lockout in these tests


def _agent(tmp_path: Path, signer: TokenSigner, clock: ManualClock) -> tuple[SiteAgent, FakeBoards]:
    key = tmp_path / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    config = parse_config(
        {
            "site_id": SITE,
            "state_dir": str(tmp_path / "state"),
            "central_public_key": str(key),
            "broker": {"host": "127.0.0.1", "port": 9},  # never connected in these tests
            "lock_bus": {"port": str(tmp_path / "locks"), "family": "cu16", "boards": [0]},
            "slots": [
                {"id": f"A0{i}", "board": 0, "lock": i, "size": "M"} for i in range(1, LOCKS + 1)
            ],
            "timing": {"scan_failures_before_lockout": FAILURES},
        }
    )
    boards = FakeBoards()
    agent = SiteAgent(
        config,
        clock=clock,
        verifier=signer.verifier(),
        durable=False,
        driver=boards,  # type: ignore[arg-type]
    )
    boards.agent = agent
    return agent, boards


def _pickup_code(signer: TokenSigner, clock: ManualClock, parcel: str) -> str:
    return signer.pickup_code(PickupCode(SITE, parcel, int(clock.now() + 600), os.urandom(8)))


def _written(agent: SiteAgent) -> list[str]:
    return [m.decode() for m in agent.store.event_messages()]


def _full(agent: SiteAgent, clock: ManualClock) -> DiskFull:
    """Fill the card, then the pages the store still had room in, until a write fails."""
    disk = DiskFull(agent)
    disk.fill()
    for _ in range(100_000):
        try:
            with agent.store.transaction() as tx:
                tx.emit(DoorClosed(slot="A04", occupied=False), clock.now())
        except StoreUnavailable:
            return disk
    raise AssertionError("the full card took every write")


def test_refusals_the_full_store_could_not_record_start_no_lockout(tmp_path):
    """A refusal counts toward the scan lockout once its ScanRefused is written: on a full
    card, forged codes are refused unrecorded and uncounted, so no lockout ever stands
    without its ScannerLockedOut event, and the consumer who comes once space is back is
    served."""
    signer, forger, clock = TokenSigner.generate(), TokenSigner.generate(), ManualClock()
    (parcel,) = labels(1, start=9100)

    async def scenario() -> None:
        agent, boards = _agent(tmp_path, signer, clock)
        try:
            with agent.store.transaction() as tx:
                now = clock.now()
                tx.move("A02", Trigger.OPEN_FOR_DEPOSIT, now)
                tx.move("A02", Trigger.CLOSED_OCCUPIED, now, parcel=parcel)
            boards.occupied[1] = True
            await agent.reconcile()
            disk = _full(agent, clock)
            for _ in range(FAILURES + 1):  # each a new forgery: a guess that would count
                with pytest.raises(StoreUnavailable):
                    await agent.handle_scan(ScannedCode(_pickup_code(forger, clock, parcel)))
            disk.free()
            assert not agent.scan_lockout.locked_out(clock.monotonic())
            assert not any('"scanner_locked_out"' in m for m in _written(agent))
            # The sentinel: the consumer's own code opens the door.
            await agent.handle_scan(ScannedCode(_pickup_code(signer, clock, parcel)))
            assert len(boards.seen_at_unlock) == 1 and "A02" in agent.open_doors
        finally:
            await agent.stop()

    asyncio.run(scenario())


def test_a_courier_badge_is_accepted_while_another_program_holds_the_store(tmp_path):
    """A badge writes nothing: it opens the courier's session even while another program
    holds the store's write lock (a backup, a technician's sqlite3), as a label then needs
    the store. The screen says nothing is wrong, and the badge is not read again as new."""
    signer, clock = TokenSigner.generate(), ManualClock()
    (parcel,) = labels(1, start=9200)

    async def scenario() -> None:
        agent, boards = _agent(tmp_path, signer, clock)
        rival = sqlite3.connect(agent.store.path, isolation_level=None)
        try:
            await agent.reconcile()
            with agent.store.transaction() as tx:
                tx.expect(parcel, SizeClass.M, None, clock.now() + 3600)
            now = int(clock.now())
            badge = signer.courier_badge(
                CourierBadge("courier-7", "post", now - 60, now + 3600, os.urandom(8))
            )
            rival.execute("BEGIN IMMEDIATE")
            await agent.handle_scan(ScannedCode(badge))  # raised StoreUnavailable once
            assert agent.courier is not None and agent.courier.courier == "courier-7"
            rival.execute("ROLLBACK")
            # The sentinel: the courier's label opens a door on that session.
            await agent.handle_scan(ScannedCode(parcel))
            assert len(boards.seen_at_unlock) == 1
        finally:
            rival.close()
            await agent.stop()

    asyncio.run(scenario())


def _refused_port() -> int:
    """A local TCP port nothing listens on (connects to it are refused at once)."""
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_uplink_whose_reconnect_cap_is_below_its_minimum_keeps_trying(tmp_path):
    """reconnect_max_s below reconnect_min_s (each valid alone) waits the minimum between
    attempts, as it always did: the link must not die before its first attempt and leave
    the site never connecting."""
    signer, clock = TokenSigner.generate(), ManualClock()

    async def scenario() -> None:
        agent, _boards = _agent(tmp_path, signer, clock)

        async def ignore(_payload: bytes) -> None:
            return None

        def snapshot() -> StateSnapshot:
            return agent.snapshot()

        link = SiteLink(
            site=SITE,
            boot_id="b" * 16,
            broker=BrokerConfig(host="127.0.0.1", port=_refused_port()),
            store=agent.store,
            clock=SystemClock(),
            snapshot=snapshot,
            on_command=ignore,
            reconnect_min_s=0.05,
            reconnect_max_s=0.01,
        )
        task = asyncio.ensure_future(link.run())
        try:

            def attempted() -> Any:
                return task.done() or link.stats.last_error is not None

            await eventually_async(attempted, 10, "a first connect attempt")
            assert not task.done(), task.exception()
            link.stats.last_error = None
            await eventually_async(attempted, 10, "a second connect attempt")
            assert not task.done(), task.exception()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await agent.stop()

    asyncio.run(scenario())
