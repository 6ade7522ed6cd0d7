"""Fuzzing the site's three inputs: the lock-board line, the scanner and the command topic.

Whatever arrives, the agent never crashes, never opens a door, and afterwards still serves
a valid request. In-process and in memory (no broker, no pty) so thousands of cases run in
seconds: the devices are hw_sim's, over its in-memory transport, with wire time skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.broker.launcher import free_port
from edge.agent import SiteAgent
from edge.config import parse_config
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from protocols.clock import SystemClock
from protocols.commands import sign_command
from protocols.labels import make_s10
from protocols.messages import (
    Command,
    OpenSlot,
    Reply,
    ReserveSlot,
    SignedCommand,
    SizeClass,
    SlotState,
    decode,
    encode,
)
from protocols.scanner import ScannedCode
from protocols.tokens import CourierBadge, PickupCode, TokenSigner
from tests.eventually import eventually

SITE = "F0001"
SLOTS = 8
FUZZ = settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
OPEN_STATES = {SlotState.OPEN_FOR_DEPOSIT, SlotState.OPEN_FOR_PICKUP, SlotState.OPEN_FOR_REMOVAL}


class InstantClock(SystemClock):
    """Real time, but the simulated devices never wait out wire time."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class InjectingLink:
    """The agent's end of the lock bus; right after each request the device side puts
    the case's bytes on the line, ahead of (and around) the board's real reply."""

    def __init__(self, link: Any, port: Any, harness: Harness) -> None:
        self._link, self._port, self._harness = link, port, harness

    async def read(self) -> bytes:
        data: bytes = await self._link.read()
        return data

    def write(self, data: bytes) -> None:
        self._link.write(data)
        if self._harness.line_noise:
            self._port._emit(self._harness.line_noise)  # the device end of the wire

    def close(self) -> None:
        self._link.close()


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    agent: SiteAgent
    sim: SimulatedSite
    signer: TokenSigner
    replies: list[Reply]
    line_noise: bytes = b""

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def openings(self) -> int:
        return sum(c.openings for c in self.sim.compartments())

    def open_slots(self) -> list[str]:
        return [s.id for s in self.agent.store.read().slots() if s.state in OPEN_STATES]

    def signed(self, body: Any, **fields: Any) -> bytes:
        now = self.agent.clock.now()
        command = Command(
            id=secrets.token_hex(8),
            site=fields.get("site", SITE),
            issued_at=now,
            expires_at=now + 60,
            nonce=secrets.token_hex(8),
            body=body,
        )
        return encode(sign_command(self.signer, command))

    def serves_a_remote_open(self, slot: str) -> None:
        """The valid request after the fuzzing: central's open command opens that door."""
        before = self.openings()
        self.agent.open_maintenance(60)  # the breaker is tested elsewhere, not here
        self.run(self.agent.handle_command_payload(self.signed(OpenSlot(slot=slot, reason="t"))))
        assert self.replies[-1].ok, self.replies[-1]
        assert self.openings() == before + 1


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    signer = TokenSigner.generate()
    key = tmp_path / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    sim = SimulatedSite(InstantClock(), SimConfig(boards=1))
    config = parse_config(
        {
            "site_id": SITE,
            "state_dir": str(tmp_path / "state"),
            "central_public_key": str(key),
            # Nothing listens there: the link is never started in these tests.
            "broker": {"host": "127.0.0.1", "port": free_port()},
            "lock_bus": {"port": "mem", "boards": [0], "reply_timeout_s": 0.05, "retries": 1},
            "scanner": {"port": "mem"},
            "slots": [
                {"id": f"A{i:02d}", "board": 0, "lock": i, "size": "M"} for i in range(1, SLOTS + 1)
            ],
            "timing": {"lockout_s": 0.05},
        }
    )
    replies: list[Reply] = []
    holder: dict[str, Harness] = {}

    async def build() -> Harness:
        locks, _scanner = sim.serve_memory()

        async def open_locks() -> Any:
            return InjectingLink(locks.open(), locks, holder["h"])

        agent = SiteAgent(
            config,
            clock=SystemClock(),
            verifier=signer.verifier(),
            lock_opener=open_locks,
            durable=False,
        )
        agent.link.reply = lambda payload: replies.append(decode(Reply, payload))  # type: ignore[method-assign]
        holder["h"] = Harness(loop, agent, sim, signer, replies)
        assert agent.driver is not None
        await agent.driver.start()
        return holder["h"]

    instance = loop.run_until_complete(build())
    instance.run(instance.agent.poll_once())
    try:
        yield instance
    finally:
        assert instance.agent.driver is not None
        loop.run_until_complete(instance.agent.driver.stop())
        loop.run_until_complete(sim.aclose())
        instance.agent.store.close()
        loop.close()


def test_random_bytes_on_the_lock_board_line_open_nothing(harness: Harness):
    @FUZZ
    @given(
        noise=st.one_of(
            st.binary(max_size=64),
            # Frames that look right: STX, any address and command, ETX, sometimes a valid sum.
            st.builds(
                _cu16_like,
                st.integers(0, 255),
                st.sampled_from([0x30, 0x31, 0x35, 0x32]),
                st.binary(max_size=6),
                st.booleans(),
            ),
        )
    )
    def case(noise: bytes) -> None:
        harness.line_noise = noise
        harness.run(harness.agent.poll_once())  # must not raise
        assert harness.openings() == 0
        assert harness.open_slots() == []

    case()
    assert harness.agent.driver is not None
    # The noise really reached the agent's reassembler (and was thrown away there).
    assert harness.agent.driver.bus.reassembler.stats.bad_frames > 0
    harness.line_noise = b""
    for _ in range(4):  # a run of good readings brings a board back if the noise took it down
        harness.run(harness.agent.poll_once())
    harness.serves_a_remote_open("A03")


def _cu16_like(addr: int, cmd: int, body: bytes, fix: bool) -> bytes:
    frame = bytes([0x02, addr, cmd, *body, 0x03])
    return frame + bytes([sum(frame) & 0xFF if fix else (sum(frame) + 1) & 0xFF])


def test_random_scanner_lines_open_nothing(harness: Harness):
    verifier_site = SITE
    other = TokenSigner.generate()
    now = int(harness.agent.clock.now())

    def forged_pickup(parcel: str, expires: int, nonce: bytes, site: str) -> str:
        return other.pickup_code(PickupCode(site, parcel, expires, nonce))

    def forged_badge(courier: str, nonce: bytes) -> str:
        return other.courier_badge(CourierBadge(courier, "post", now - 60, now + 60, nonce))

    ids = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=20)
    texts = st.one_of(
        st.text(max_size=300),
        st.builds(lambda s: "LNP:" + s, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", max_size=200)),
        st.builds(lambda s: "LNB:" + s, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", max_size=200)),
        st.builds(
            forged_pickup,
            ids,
            st.integers(0, 2**32 - 1),
            st.binary(min_size=8, max_size=8),
            st.sampled_from([verifier_site, "F0002"]),
        ),
        st.builds(forged_badge, ids, st.binary(min_size=8, max_size=8)),
        st.builds(lambda n: make_s10("RR", n, "CN"), st.integers(0, 99_999_999)),
    )

    @FUZZ
    @given(text=texts, symbology=st.one_of(st.none(), st.text(max_size=4)))
    def case(text: str, symbology: str | None) -> None:
        harness.run(harness.agent.handle_scan(ScannedCode(text, symbology)))  # must not raise
        assert harness.openings() == 0
        assert harness.open_slots() == []

    case()
    # A real courier, after the lockout has run out, still deposits a parcel announced here.
    parcel = make_s10("RR", 12_345_678, "CN")
    harness.run(
        harness.agent.handle_command_payload(
            harness.signed(ReserveSlot(parcel=parcel, size=SizeClass.M, until=now + 3600))
        )
    )
    assert harness.replies[-1].ok, harness.replies[-1]
    agent = harness.agent
    eventually(
        lambda: not agent.scan_lockout.locked_out(agent.clock.monotonic()),
        what="the scan lockout to run out",
    )
    badge = harness.signer.courier_badge(
        CourierBadge("courier-1", "post", now - 60, now + 3600, os.urandom(8))
    )
    harness.run(harness.agent.handle_scan(ScannedCode(badge)))
    harness.run(harness.agent.handle_scan(ScannedCode(parcel)))
    assert harness.openings() == 1


def test_random_payloads_on_the_command_topic_open_nothing_and_are_answered(harness: Harness):
    genuine = decode(SignedCommand, harness.signed(OpenSlot(slot="A01", reason="x")))
    command_json = json.loads(genuine.command)

    def mutated(key: str, value: Any) -> bytes:
        changed = dict(command_json, **{key: value})
        return encode(SignedCommand(command=json.dumps(changed), sig=genuine.sig))

    def with_sig(sig: str) -> bytes:
        wire = json.loads(encode(genuine))
        wire["sig"] = sig
        return json.dumps(wire).encode()

    jsonish = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
    payloads = st.one_of(
        st.binary(max_size=300),
        jsonish.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({"command": st.text(), "sig": st.text()}).map(
            lambda v: json.dumps(v).encode()
        ),
        st.builds(mutated, st.sampled_from(sorted(command_json)), jsonish),
        st.builds(with_sig, st.text() | st.text(B64URL, min_size=86, max_size=86)),
    )

    @FUZZ
    @given(payload=payloads)
    def case(payload: bytes) -> None:
        answered = len(harness.replies)
        harness.run(harness.agent.handle_command_payload(payload))  # must not raise
        assert len(harness.replies) == answered + 1
        assert not harness.replies[-1].ok
        assert harness.openings() == 0

    case()
    harness.serves_a_remote_open("A01")
