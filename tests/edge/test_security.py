"""A door opens only for the right person: forged, expired, used and other-site codes open
nothing; repeated failures lock the scanner out; commands must be central's, fresh, once;
the mass-open breaker holds."""

from __future__ import annotations

import asyncio

import pytest

from hw_sim.people.people import Consumer, Courier, Vandal
from protocols.messages import OpenSlot, ReplyReason, ScanRefusal, SlotState
from protocols.tokens import TokenSigner
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def _no_door_opened(rig: SiteRig, before: dict[tuple[int, int], int]) -> bool:
    return all(c.openings == before[(c.board, c.slot)] for c in rig.sim.compartments())


def _openings(rig: SiteRig) -> dict[tuple[int, int], int]:
    return {(c.board, c.slot): c.openings for c in rig.sim.compartments()}


def test_bad_codes_open_nothing_and_repeated_guesses_lock_the_scanner_out(tmp_path, broker, topics):
    """Codes central signed (used, expired, another site's, a parcel not here) are refused
    and never counted: nobody can guess them (issue 11, kind 9). Forgeries are counted."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(
            tmp_path, broker, topics, overrides={"timing.scan_failures_before_lockout": 5}
        )
        agent = await rig.start()
        try:
            parcel, other = labels(2)
            await rig.reserve(parcel)
            assert (await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])).placed
            await eventually_async(
                lambda: (
                    agent.store.read().slot_holding(parcel) is not None
                    and agent.store.read().slot_holding(parcel).state is SlotState.OCCUPIED
                )
            )
            # The real code works once.
            good = rig.pickup_code(parcel)
            assert (await Consumer(rig.sim, BRISK).pick_up(good)).taken == [parcel]
            await eventually_async(lambda: agent.store.read().slot_holding(parcel) is None)
            before = _openings(rig)
            bad = [
                good,  # used
                rig.pickup_code(parcel, expires_in=-10),  # expired
                rig.pickup_code(parcel, site="L0002"),  # another site's
                rig.pickup_code(parcel, signer=TokenSigner.generate()),  # forged: other key
                rig.pickup_code(other),  # valid, but no such parcel here
            ]
            for code in bad:
                await scan_opens_nothing(agent, rig.sim, code)
            assert _no_door_opened(rig, before)
            assert not agent.scan_lockout.locked_out(agent.clock.monotonic())
            # Four more forgeries make five guesses: locked out.
            vandal = Vandal(rig.sim, seed=3)
            for _ in range(4):
                await scan_opens_nothing(agent, rig.sim, vandal.forged_code())
            await eventually_async(lambda: agent.scan_lockout.stats.lockouts == 1)
            # Now locked out: even a vandal's next forgery is refused unread.
            await scan_opens_nothing(agent, rig.sim, Vandal(rig.sim, seed=4).forged_code())
            await eventually_async(lambda: agent.store.pending_count() == 0)
            assert _no_door_opened(rig, before)
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        refusals = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert refusals[:5] == [
            ScanRefusal.ALREADY_USED,
            ScanRefusal.EXPIRED,
            ScanRefusal.WRONG_SITE,
            ScanRefusal.BAD_SIGNATURE,
            ScanRefusal.PARCEL_NOT_HERE,
        ]
        assert set(refusals[5:9]) <= {ScanRefusal.BAD_SIGNATURE, ScanRefusal.MALFORMED}
        assert refusals[9] == ScanRefusal.LOCKED_OUT
        lockouts = observer.of_type("scanner_locked_out")
        assert len(lockouts) == 1 and lockouts[0].payload.failures == 5
    finally:
        observer.close()


def test_a_code_survives_a_change_of_mind_but_not_a_collection(tmp_path, broker, topics):
    """A consumer who shuts the door on the parcel may scan again; once the parcel is
    collected, the same code is spent."""
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            (parcel,) = labels(1, start=500)
            slot = await rig.reserve(parcel)
            await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            await eventually_async(
                lambda: agent.store.read().slot(slot).state is SlotState.OCCUPIED
            )
            code = rig.pickup_code(parcel)
            consumer = Consumer(rig.sim, BRISK)
            door = await consumer.scan_and_wait(code, None)
            assert door is not None and door.close_door()  # changed their mind
            await eventually_async(
                lambda: agent.store.read().slot(slot).state is SlotState.OCCUPIED
            )
            assert (await consumer.pick_up(code)).taken == [parcel]
            await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)
            # The same parcel comes back (a redelivery): the old code must not open it.
            await rig.reserve(parcel)
            await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            await eventually_async(
                lambda: (
                    agent.store.read().slot_holding(parcel) is not None
                    and agent.store.read().slot_holding(parcel).state is SlotState.OCCUPIED
                )
            )
            await scan_opens_nothing(agent, rig.sim, code)
            await eventually_async(lambda: agent.store.pending_count() == 0)
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        assert len(observer.of_type("parcel_picked_up")) == 1
        refusals = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert refusals == [ScanRefusal.ALREADY_USED]
    finally:
        observer.close()


def test_commands_need_central_signature_this_site_freshness_and_single_use(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> dict[str, ReplyReason | None]:
        rig = SiteRig(tmp_path, broker, topics)
        await rig.start()
        results: dict[str, ReplyReason | None] = {}
        try:
            # Online (and so subscribed: the status follows the subscription on the wire).
            await eventually_async(
                lambda: b'"online":true' in observer.retained.get("status", b""), 10, "online"
            )
            before = _openings(rig)
            stolen = TokenSigner.generate()  # broker access, but not central's key
            cases = {
                "forged": rig.signed(rig.command(OpenSlot(slot="A01", reason="x")), stolen),
                "other_site": rig.signed(
                    rig.command(OpenSlot(slot="A01", reason="x"), site="L0002")
                ),
                "expired": rig.signed(rig.command(OpenSlot(slot="A01", reason="x"), ttl=-1)),
                "garbage": b'{"v":1,"command":"{}","sig":"nope"}',
                "future": b'{"v":2}',
            }
            for payload in cases.values():
                observer.send(payload)
            good = rig.command(OpenSlot(slot="A02", reason="support call"))
            observer.send(rig.signed(good))
            await eventually_async(lambda: observer.reply_to(good.id) is not None, 10)
            # A replay of the good command, byte for byte.
            observer.send(rig.signed(good))
            await eventually_async(lambda: len(observer.replies) >= 7, 10, "all replies")
            opened = [k for k, v in _openings(rig).items() if v != before[k]]
            assert opened == [(0, 2)]  # only the one good command's door
            for reply in observer.replies:
                results[reply.command_id] = reply.reason
            return results
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        reasons = sorted((r.reason.value if r.reason else "ok") for r in observer.replies)
        assert reasons == sorted(
            [
                "bad_signature",
                "wrong_site",
                "expired",
                "malformed",
                "unsupported_version",
                "ok",
                "replayed",
            ]
        )
    finally:
        observer.close()


def test_mass_open_breaker_holds_outside_maintenance(tmp_path, broker, topics):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides={"timing.remote_open_limit": 3})
        agent = await rig.start()
        try:
            before = _openings(rig)
            commands = [rig.command(OpenSlot(slot=f"A{i:02d}", reason="x")) for i in range(1, 9)]
            for command in commands:
                await agent.handle_command_payload(rig.signed(command))
            opened = [k for k, v in _openings(rig).items() if v != before[k]]
            assert sorted(opened) == [(0, 1), (0, 2), (0, 3)]
            # A technician on site opens a maintenance session: the breaker stands aside.
            agent.open_maintenance(60)
            extra = rig.command(OpenSlot(slot="A09", reason="maintenance"))
            await agent.handle_command_payload(rig.signed(extra))
            assert rig.sim.compartment(0, 9).openings == before[(0, 9)] + 1
            await eventually_async(lambda: agent.store.pending_count() == 0)
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        refused = observer.of_type("remote_open_refused")
        assert len(refused) == 5
        limited = [r for r in observer.replies if r.reason is ReplyReason.RATE_LIMITED]
        assert len(limited) == 5
    finally:
        observer.close()
