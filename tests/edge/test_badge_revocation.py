"""A courier badge central revoked is refused at the site, even offline and after a restart,
until it would have expired; other couriers' badges go on working."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from edge.store.sqlite import Store
from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY
from hw_sim.people.people import Courier
from protocols.messages import Event, RevokeBadge, ScanRefusal, ScanRefused, decode
from protocols.topics import Topics
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def refusals(store: Store) -> list[ScanRefused]:
    """The scan_refused events the site wrote, oldest first (sent or not)."""
    events = [decode(Event, m).payload for m in store.event_messages()]
    return [e for e in events if isinstance(e, ScanRefused)]


def test_a_revoked_badge_is_refused_offline_and_after_a_restart(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics
) -> None:
    observer = Observer(own_broker, topics, "L0001")
    first, second, third = labels(3)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, own_broker, topics)
        agent = await rig.start()
        try:
            revoked = rig.badge("courier-7")
            colleague = rig.badge("courier-8")
            await rig.reserve(first)
            report = await Courier(rig.sim, BRISK).deposit(revoked, [first])
            assert first in report.placed, report  # the badge works before it is revoked

            badge_id = rig.signer.verifier().courier_badge(revoked, rig.clock.now()).badge_id
            command = rig.command(RevokeBadge(badge_id=badge_id, until=rig.clock.now() + 3600))
            await eventually_async(lambda: agent.link.connected, what="the agent online")
            observer.send(rig.signed(command))  # over the broker, as central sends it
            reply = await eventually_async(
                lambda: observer.reply_to(command.id), what="the site's answer"
            )
            assert reply.ok, reply

            own_broker.stop()
            await eventually_async(lambda: not agent.link.connected, what="the link to drop")
            await agent.stop()
            rig.agent = agent = rig.new_agent()  # the revocation is in the store, not memory
            await agent.start()
            await rig.reserve(second)
            await rig.reserve(third)

            answer = await scan_opens_nothing(agent, rig.sim, revoked, QR_SYMBOLOGY)
            assert answer.opened == []
            refused = refusals(agent.store)[-1]
            assert (refused.reason, refused.detail) == (ScanRefusal.REVOKED, f"badge {badge_id}")
            # No session was opened by it: the label right after is asked for a badge.
            await scan_opens_nothing(agent, rig.sim, second, LABEL_SYMBOLOGY)
            assert refusals(agent.store)[-1].reason is ScanRefusal.NO_BADGE
            assert agent.store.read().slot_holding(second) is None

            report = await Courier(rig.sim, BRISK).deposit(colleague, [third])
            assert third in report.placed, report  # another courier's badge still works
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        observer.close()


def test_a_revocation_is_kept_until_the_badge_expires_and_no_longer(tmp_path: Path) -> None:
    store = Store(tmp_path / "site.sqlite", "L0001")
    try:
        with store.transaction() as tx:
            tx.revoke_badge("00000000000000b1", until=2_000.0, now=1_000.0)
            tx.revoke_badge("00000000000000b2", until=9_000.0, now=1_000.0)
            tx.revoke_badge("00000000000000b1", until=1_500.0, now=1_100.0)  # keeps the later
        store.prune(before=1_999.0)
        assert store.read().badge_revoked("00000000000000b1")
        store.prune(before=2_001.0)  # past b1's valid_until: refused as expired anyway
        assert not store.read().badge_revoked("00000000000000b1")
        assert store.read().badge_revoked("00000000000000b2")
        assert not store.read().badge_revoked("00000000000000ff")
    finally:
        store.close()
