"""Defence in depth at the site: the real agent on the production broker over TLS, with
commands sent by a client holding central's broker credentials (as if they were stolen).
The broker lets such a client write commands; only central's signature makes one count."""

from __future__ import annotations

import asyncio
import tomllib
from typing import Any

import pytest

from protocols.messages import (
    Event,
    OpenSlot,
    Reply,
    ReplyReason,
    SignedCommand,
    decode,
    encode,
)
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.edge.rig import SiteRig
from tests.eventually import eventually_async
from tests.security.conftest import SecureBroker

pytestmark = [pytest.mark.broker, pytest.mark.pty]

SITE = "L0009"
REMOTE_OPEN_LIMIT = 2


def _bundle_overrides(secure: SecureBroker, tmp_path) -> tuple[dict[str, Any], TokenSigner]:
    """The site's broker settings exactly as `issue-site` wrote them in the bundle."""
    bundle = tmp_path / "bundle"
    secure.pki.issue_site(SITE, bundle, broker_host="127.0.0.1", broker_port=secure.tls_port)
    fragment = tomllib.loads((bundle / "site.toml").read_text())
    assert fragment["site_id"] == SITE
    overrides = {f"broker.{key}": value for key, value in fragment["broker"].items()}
    overrides["timing.remote_open_limit"] = REMOTE_OPEN_LIMIT
    signer = TokenSigner.from_pem((secure.pki.folder / "central-signing-key.pem").read_bytes())
    # The bundle carries the public half of the very key central signs with.
    assert (bundle / "central.pub").read_bytes() == signer.verifier().public_pem()
    return overrides, signer


def test_forged_foreign_expired_and_replayed_commands_open_nothing_and_are_answered(
    secure: SecureBroker, tmp_path
):
    topics = Topics(secure.root)
    overrides, signer = _bundle_overrides(secure, tmp_path)
    stolen = secure.central()
    stolen.subscribe(topics.site(SITE, SiteChannel.REPLIES), topics.site(SITE, SiteChannel.EVENTS))
    commands = topics.site(SITE, SiteChannel.COMMANDS)

    def replies() -> list[Reply]:
        return [decode(Reply, p) for p in stolen.received(topics.site(SITE, SiteChannel.REPLIES))]

    def events() -> list[Event]:
        return [decode(Event, p) for p in stolen.received(topics.site(SITE, SiteChannel.EVENTS))]

    async def send(payload: bytes) -> Reply:
        count = len(replies())
        assert not stolen.publish(commands, payload).is_failure
        await eventually_async(lambda: len(replies()) > count, what="the site's reply")
        return replies()[count]

    async def scenario() -> None:
        rig = SiteRig(
            tmp_path, secure.broker, topics, site_id=SITE, signer=signer, overrides=overrides
        )
        assert rig.config.broker.tls and rig.config.broker.port == secure.tls_port
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, what="the agent on TLS")

            def openings() -> int:
                return sum(c.openings for c in rig.sim.compartments())

            forged = rig.signed(
                rig.command(OpenSlot(slot="A01", reason="x")), signer=TokenSigner.generate()
            )
            foreign = rig.signed(rig.command(OpenSlot(slot="A01", reason="x"), site="L0001"))
            expired = rig.signed(rig.command(OpenSlot(slot="A01", reason="x"), ttl=-5))
            tampered_cmd = decode(
                SignedCommand, rig.signed(rig.command(OpenSlot(slot="A02", reason="x")))
            )
            tampered = encode(
                SignedCommand(
                    command=tampered_cmd.command.replace('"A02"', '"A03"'), sig=tampered_cmd.sig
                )
            )
            garbage = b"\x00{not json"
            answers = [await send(p) for p in (forged, foreign, expired, tampered, garbage)]
            assert [(a.ok, a.reason) for a in answers] == [
                (False, ReplyReason.BAD_SIGNATURE),
                (False, ReplyReason.WRONG_SITE),
                (False, ReplyReason.EXPIRED),
                (False, ReplyReason.BAD_SIGNATURE),
                (False, ReplyReason.MALFORMED),
            ]
            assert openings() == 0

            # A genuine command works once; the same bytes again are a replay.
            genuine = rig.signed(rig.command(OpenSlot(slot="A04", reason="technician")))
            first = await send(genuine)
            assert first.ok, first
            await eventually_async(lambda: openings() == 1, what="the door to open")
            again = await send(genuine)
            assert (again.ok, again.reason) == (False, ReplyReason.REPLAYED)

            # The mass-open breaker: genuine commands beyond the limit are refused.
            burst = [
                await send(rig.signed(rig.command(OpenSlot(slot=f"A{n:02d}", reason="burst"))))
                for n in range(5, 9)
            ]
            assert [b.ok for b in burst] == [True, False, False, False]
            assert {b.reason for b in burst[1:]} == {ReplyReason.RATE_LIMITED}
            await eventually_async(
                lambda: len([e for e in events() if e.type == "remote_open_refused"]) == 3,
                what="the alarm events",
            )
            assert openings() == REMOTE_OPEN_LIMIT
            # ...but a technician on site can open a maintenance session.
            agent.open_maintenance(60)
            maintenance = await send(
                rig.signed(rig.command(OpenSlot(slot="A10", reason="maintenance")))
            )
            assert maintenance.ok
            await eventually_async(lambda: openings() == REMOTE_OPEN_LIMIT + 1)
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        stolen.close()
    # Everything the site said reached central over the locked-down broker.
    assert "door_opened" in {e.type for e in events()}
