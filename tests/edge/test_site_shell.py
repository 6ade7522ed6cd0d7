"""The shell with its parts handed in: a real SQLite store, a fake lock-bus driver, no
broker and no pty. What the shell adds to the decisions is the order of things: the store
commits a door's opening before the unlock frame goes out, and a lock that does not release
puts the slot back."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from edge.agent import SiteAgent
from edge.config import parse_config
from edge.drivers.lockboard import BoardReading
from edge.errors import LockDidNotRelease
from edge.site.slots import Trigger
from protocols.clock import ManualClock
from protocols.commands import sign_command
from protocols.messages import Command, OpenSlot, SlotState, encode
from protocols.scanner import ScannedCode
from protocols.tokens import PickupCode, TokenSigner
from tests.edge.rig import labels

LOCKS = 4


class FakeBoards:
    """One board of four locks, all shut and empty; records what the store held at each
    unlock (the slot's state and the newest event written)."""

    def __init__(self) -> None:
        self.boards = [0]
        self.door_open = [False] * LOCKS
        self.occupied: list[bool | None] = [False] * LOCKS
        self.seen_at_unlock: list[tuple[str, str | None]] = []
        self.refuse = False
        self.agent: SiteAgent | None = None

    async def read_board(self, board: int) -> BoardReading:
        return BoardReading(board, tuple(self.door_open), tuple(self.occupied))

    async def unlock(self, board: int, lock: int) -> None:
        assert self.agent is not None
        slot = self.agent.store.read().slot(f"A0{lock}")
        pending = self.agent.store.pending(limit=1000)
        newest = pending[-1].message.decode() if pending else None
        self.seen_at_unlock.append((slot.state.value, newest))
        if self.refuse:
            raise LockDidNotRelease(f"lock {lock} did not release")

    async def start(self, spawn: object) -> None:
        return None

    async def stop(self) -> None:
        return None


def _agent(tmp_path: Path, signer: TokenSigner, clock: ManualClock) -> tuple[SiteAgent, FakeBoards]:
    key = tmp_path / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    config = parse_config(
        {
            "site_id": "L0001",
            "state_dir": str(tmp_path / "state"),
            "central_public_key": str(key),
            "broker": {"host": "127.0.0.1", "port": 9},  # never connected in these tests
            "lock_bus": {"port": str(tmp_path / "locks"), "family": "cu16", "boards": [0]},
            "slots": [
                {"id": f"A0{i}", "board": 0, "lock": i, "size": "M"} for i in range(1, LOCKS + 1)
            ],
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


def _place(agent: SiteAgent, slot: str, parcel: str) -> None:
    now = agent.clock.now()
    with agent.store.transaction() as tx:
        tx.move(slot, Trigger.OPEN_FOR_DEPOSIT, now)
        tx.move(slot, Trigger.CLOSED_OCCUPIED, now, parcel=parcel)


def test_a_pickup_is_committed_before_the_unlock_and_recorded_when_the_door_shuts(tmp_path):
    signer, clock = TokenSigner.generate(), ManualClock()
    (parcel,) = labels(1)

    async def scenario() -> None:
        agent, boards = _agent(tmp_path, signer, clock)
        try:
            _place(agent, "A02", parcel)
            boards.occupied[1] = True
            await agent.reconcile()
            code = signer.pickup_code(
                PickupCode("L0001", parcel, int(clock.now() + 600), os.urandom(8))
            )
            await agent.handle_scan(ScannedCode(code))
            state, newest = boards.seen_at_unlock[-1]
            assert state == SlotState.OPEN_FOR_PICKUP.value
            assert newest is not None and '"door_opened"' in newest
            assert "A02" in agent.open_doors
            assert agent.store.read().slot("A02").released_at is not None
            # The consumer opens the door, takes the parcel and shuts it.
            boards.door_open[1] = True
            await agent.poll_once()
            boards.door_open[1], boards.occupied[1] = False, False
            clock.advance(3)
            await agent.poll_once()
            assert agent.store.read().slot("A02").state is SlotState.FREE
            assert agent.store.read().picked_up_at(parcel) is not None
            assert agent.open_doors == {}
        finally:
            await agent.stop()

    asyncio.run(scenario())


def test_a_remote_open_whose_lock_does_not_release_puts_the_slot_back_and_faults_it(tmp_path):
    signer, clock = TokenSigner.generate(), ManualClock()
    (parcel,) = labels(1)

    async def scenario() -> None:
        agent, boards = _agent(tmp_path, signer, clock)
        try:
            _place(agent, "A03", parcel)
            boards.occupied[2] = True
            await agent.reconcile()
            boards.refuse = True
            now = clock.now()
            command = Command(
                id=secrets.token_hex(8),
                site="L0001",
                issued_at=now,
                expires_at=now + 60,
                nonce=secrets.token_hex(8),
                body=OpenSlot(slot="A03", reason="courier stuck"),
            )
            await agent.handle_command_payload(encode(sign_command(signer, command)))
            assert boards.seen_at_unlock == [
                (SlotState.OPEN_FOR_REMOVAL.value, boards.seen_at_unlock[0][1])
            ]
            assert agent.store.read().slot("A03").state is SlotState.FAULT
            assert ("lock", "A03", "lock_wont_release") in agent.faults
            assert agent.slot_faults == {"A03": "lock_wont_release"}
            assert agent.open_doors == {}
        finally:
            await agent.stop()

    asyncio.run(scenario())
