"""The host faults as the simulator's day plays them: a site in memory (as most of the
fleet's sites are, durable=False), a disk that fills and empties, a second agent started by
mistake. The guarantees: no door opens without its record, and one owner per site."""

from __future__ import annotations

import asyncio
import os
import secrets

from edge.agent import STORE_REFUSAL, SiteAgent
from edge.config import parse_config
from edge.drivers.links import ByteLink, Opener
from hw_sim.devices.memory_transport import MemoryPort
from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY, SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.field.host_faults import DiskFull, start_second_agent
from hw_sim.people.people import Courier, Pace
from protocols.clock import SystemClock
from protocols.commands import sign_command
from protocols.labels import make_s10
from protocols.messages import Command, DoorOpened, Event, ReserveSlot, SizeClass, decode, encode
from protocols.tokens import CourierBadge, TokenSigner
from tests.edge.answers import scan_answered
from tests.eventually import eventually_async

PACE = Pace(handling_s=0.02, glance_s=0.01, patience_s=0.6)


def _memory(port: MemoryPort) -> Opener:
    async def open_port() -> ByteLink:
        return port.open()

    return open_port


def _door_records(agent: SiteAgent) -> int:
    """DoorOpened events in the site's outbox (none is pruned within a test)."""
    rows = agent.store.pending(limit=10_000)
    return sum(isinstance(decode(Event, r.message).payload, DoorOpened) for r in rows)


def test_the_sim_plays_a_full_disk_and_a_second_agent_and_the_guarantees_hold(tmp_path, topics):
    clock = SystemClock()
    signer = TokenSigner.generate()
    key = tmp_path / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    config = parse_config(
        {
            "site_id": "M0001",
            "state_dir": str(tmp_path / "sites"),
            "central_public_key": str(key),
            # Port 1 answers nothing: the events stay in the outbox, where the test counts them.
            "broker": {"host": "127.0.0.1", "port": 1, "topic_root": topics.root},
            "lock_bus": {"port": "memory", "boards": [0], "poll_interval_s": 0.05},
            "scanner": {"port": "memory"},
            "slots": [
                {"id": f"A{i:02d}", "board": 0, "lock": i, "size": "S"} for i in range(1, 17)
            ],
        }
    )
    parcels = [make_s10("RR", 30_000_000 + i, "CN") for i in range(12)]

    async def scenario() -> None:
        sim = SimulatedSite(clock, SimConfig(boards=1))
        locks, scanner = sim.serve_memory()
        agent = SiteAgent(
            config,
            clock=clock,
            verifier=signer.verifier(),
            lock_opener=_memory(locks),
            scanner_opener=_memory(scanner),
            durable=False,
        )
        await agent.start()
        try:
            # A technician starts a second agent by hand: refused, naming the first.
            second = start_second_agent(agent)
            assert second.refused and second.owner_pid == os.getpid(), second
            for parcel in parcels:
                now = clock.now()
                command = Command(
                    id=secrets.token_hex(8),
                    site="M0001",
                    issued_at=now,
                    expires_at=now + 60,
                    nonce=secrets.token_hex(8),
                    body=ReserveSlot(parcel=parcel, size=SizeClass.S, until=now + 3600),
                )
                await agent.handle_command_payload(encode(sign_command(signer, command)))
            now = int(clock.now())
            badge = signer.courier_badge(
                CourierBadge("courier-1", "post", now - 60, now + 3600, os.urandom(8))
            )

            disk = DiskFull(agent)
            disk.set(True)
            await scan_answered(agent, sim, badge, QR_SYMBOLOGY)
            refused = None
            for parcel in parcels:
                # Each scan is checked on the agent's answer to it: a refused one opened nothing.
                answer = await scan_answered(agent, sim, parcel, LABEL_SYMBOLOGY)
                if answer.refusal == STORE_REFUSAL:
                    assert answer.opened == []
                    refused = parcel
                    break
                assert answer.opened, "a door must open for a scan that was not refused"
                door = sim.compartment(*answer.opened[0])
                door.place(parcel)
                assert door.close_door()
            assert refused is not None, "the full disk never refused a write"
            opened = sum(c.openings for c in sim.compartments())
            assert opened == _door_records(agent)  # every door that moved has its record

            disk.set(False)
            await eventually_async(
                lambda: ("store", "store", "write_failed") not in agent.faults, 10, "cleared"
            )
            report = await Courier(sim, PACE).deposit(badge, [refused])
            assert refused in report.placed
            assert sum(c.openings for c in sim.compartments()) == _door_records(agent)
        finally:
            await agent.stop(graceful=False)
            await sim.aclose()

    asyncio.run(scenario())
