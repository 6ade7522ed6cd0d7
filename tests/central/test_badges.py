"""Courier badges from the operator's commands to the site's scanner: `lockernet badge issue`
makes a badge a real agent accepts, `badge revoke` makes every site refuse it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from central.broker import PrivateBroker
from central.service.service import CentralService
from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY
from hw_sim.people.people import Courier
from protocols.clock import SystemClock
from protocols.topics import Topics
from tests.central.test_cli import Run, config_file, lockernet, table_rows  # noqa: F401
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def test_an_issued_badge_deposits_and_once_revoked_opens_nothing(
    tmp_path: Path,
    broker: PrivateBroker,
    topics: Topics,
    start_central: Callable[..., CentralService],
    lockernet: Run,  # noqa: F811
) -> None:
    central = start_central(clock=SystemClock())  # runs the durable command tasks
    png = tmp_path / "badge.png"
    code, out, err = lockernet(
        "badge", "issue", "K1", "--partner", "post", "--days", "2", "-o", str(png)
    )
    assert code == 0, err
    text = out.splitlines()[-1]
    assert text.startswith("LNB:")
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.read_bytes())))
    assert barcode.text == text  # the printed badge scans as the text
    [row] = [r for r in table_rows(lockernet("badge", "list")[1]) if "K1" in r]
    badge_id, _courier, partner, *_rest, state = row
    assert (partner, state) == ("post", "valid")

    rig = SiteRig(tmp_path / "site", broker, topics, site_id="L0001", signer=central.signer)
    first, later = labels(2)

    async def scenario() -> None:
        agent = await rig.start()
        try:
            await rig.reserve(first)
            report = await Courier(rig.sim, BRISK).deposit(text, [first])
            assert first in report.placed, report

            code, out, err = lockernet("badge", "revoke", badge_id)
            assert code == 0 and "revoked" in out, err
            await eventually_async(
                lambda: agent.store.read().badge_revoked(badge_id), 20, "the revocation at the site"
            )
            await rig.reserve(later)
            await scan_opens_nothing(agent, rig.sim, text, QR_SYMBOLOGY)
            await scan_opens_nothing(agent, rig.sim, later, LABEL_SYMBOLOGY)  # no session
            assert agent.store.read().slot_holding(later) is None
        finally:
            await rig.stop()

    asyncio.run(scenario())
    assert lockernet("badge", "list")[1].strip() == "no badges"
    [row] = table_rows(lockernet("badge", "list", "--all", "--courier", "K1")[1])[2:]
    assert row[0] == badge_id and row[-1].startswith("revoked")
    code, _, err = lockernet("badge", "revoke", badge_id)
    assert code == 2 and "revoked already" in err


def test_bad_badge_input_is_named_and_writes_nothing(lockernet: Run) -> None:  # noqa: F811
    code, _, err = lockernet("badge", "issue", "c-1", "--partner", "post", "--days", "0")
    assert code == 2 and "--days 0" in err
    code, _, err = lockernet("badge", "issue", "x" * 65, "--partner", "post")
    assert code == 2 and "courier" in err and "1-64 bytes" in err
    for courier, partner, said in (
        ("K9", "post", "courier 'K9' is not in the network file's couriers"),
        ("K1", "acme", "partner 'acme' is not in the network file (its partners: fast, post)"),
        ("K1", "fast", "courier K1 delivers for post, not fast (network file)"),
    ):
        code, _, err = lockernet("badge", "issue", courier, "--partner", partner)
        assert code == 2 and said in err, err
    code, _, err = lockernet("badge", "revoke", "0123456789abcdef")
    assert code == 2 and "badge 0123456789abcdef is not known" in err
    assert lockernet("badge", "list", "--all")[1].strip() == "no badges"


def test_a_site_with_a_new_store_is_told_every_revocation_still_in_force(tmp_path: Path) -> None:
    """A revocation lives in each site's store: a site first heard after it, or whose store
    was lost or replaced (a new epoch), is sent again every revocation of a badge that has
    not expired, and nothing of the expired ones."""
    import json

    from central.operator.badges import issue_badge, revoke_badge
    from central.parcels.tasks import TaskKind
    from central.sites.ingest import Delivery
    from protocols.messages import SizeClass, SlotState, encode
    from protocols.tokens import TokenSigner
    from protocols.topics import SiteChannel
    from tests.central.central_rig import small_network, snapshot
    from tests.central.test_ingest import NOW, TOPICS, make_ingest, open_store

    store = open_store(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    signer = TokenSigner.generate()

    def state_of(site: str, epoch: str) -> None:
        slots = [("A01", SizeClass.S, SlotState.FREE, None)]
        payload = encode(snapshot(site, slots, epoch=epoch))
        ingest.commit([Delivery(TOPICS.site(site, SiteChannel.STATE), payload)], NOW)

    def revocations_to(site: str) -> list[str]:
        with store.transaction() as session:
            tasks = session.open_tasks(TaskKind.SEND_COMMAND.value)
        bodies = [json.loads(t.payload)["body"] for t in tasks if t.site == site]
        return sorted(b["badge_id"] for b in bodies if b["type"] == "revoke_badge")

    state_of("L0001", "e1")
    known = small_network()
    live = issue_badge(
        store, signer, courier="K1", partner="post", days=2, actor="op", now=NOW, network=known
    )
    lapsed = issue_badge(
        store,
        signer,
        courier="K2",
        partner="fast",
        days=1,
        actor="op",
        now=NOW - 3 * 86_400,
        network=known,
    )
    revoke_badge(store, badge_id=live.record.badge_id, actor="op", now=NOW)
    revoke_badge(store, badge_id=lapsed.record.badge_id, actor="op", now=NOW)
    assert revocations_to("L0001") == [live.record.badge_id]  # queued at the revocation
    state_of("L0001", "e1")  # the same store again: nothing more to tell it
    assert revocations_to("L0001") == [live.record.badge_id]
    state_of("L0009", "n1")  # a site first heard after the revocation
    assert revocations_to("L0009") == [live.record.badge_id]
    state_of("L0009", "n2")  # its store replaced by a spare's: told again
    assert revocations_to("L0009") == [live.record.badge_id] * 2


def test_a_store_put_back_is_told_the_revocations_made_while_it_was_away(
    tmp_path: Path,
) -> None:
    """The original Pi put back after a spare stood in holds nothing revoked meanwhile (the
    spare took those commands): it is sent every revocation in force again."""
    import json

    from central.operator.badges import issue_badge, revoke_badge
    from central.parcels.tasks import TaskKind
    from central.sites.ingest import Delivery
    from protocols.messages import SizeClass, SlotState, encode
    from protocols.tokens import TokenSigner
    from protocols.topics import SiteChannel
    from tests.central.central_rig import small_network, snapshot
    from tests.central.test_ingest import NOW, TOPICS, make_ingest, open_store

    store = open_store(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    signer = TokenSigner.generate()

    def state_of(epoch: str) -> None:
        slots = [("A01", SizeClass.S, SlotState.FREE, None)]
        payload = encode(snapshot("L0001", slots, epoch=epoch))
        ingest.commit([Delivery(TOPICS.site("L0001", SiteChannel.STATE), payload)], NOW)

    def revocations_pending() -> list[str]:
        with store.transaction() as session:
            tasks = session.open_tasks(TaskKind.SEND_COMMAND.value)
            bodies = [json.loads(t.payload)["body"] for t in tasks if t.site == "L0001"]
            for task in tasks:  # the store now at the site takes them
                session.finish_task(task.id, NOW)
        return sorted(b["badge_id"] for b in bodies if b["type"] == "revoke_badge")

    state_of("original")
    state_of("spare")  # the original Pi away for repair
    badge = issue_badge(
        store,
        signer,
        courier="K1",
        partner="post",
        days=2,
        actor="op",
        now=NOW,
        network=small_network(),
    )
    revoke_badge(store, badge_id=badge.record.badge_id, actor="op", now=NOW)
    assert revocations_pending() == [badge.record.badge_id]  # the spare holds it
    state_of("original")  # put back: its store never heard of it
    assert revocations_pending() == [badge.record.badge_id]
    state_of("original")  # the sentinel: the same store again is told nothing more
    assert revocations_pending() == []
