"""A consumer's return from the label a partner is issued to the parcel back with the partner:
dropped off at a real site agent through its scanner, receipted, collected by a courier the
site was told to let take it, received back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.service.service import CentralService
from central.store import ParcelRecord
from hw_sim.people.people import Pace
from hw_sim.people.returns import Returner, ReturnsCourier
from protocols.clock import SystemClock
from protocols.messages import (
    Event,
    RemovalReason,
    ReturnDroppedOff,
    ScanKind,
    ScanRefusal,
    ScanRefused,
    decode,
)
from protocols.topics import Topics
from tests.central.central_rig import Site, SiteEvents, label
from tests.central.test_central_service import announce_all, open_site
from tests.central.test_cli import Run, config_file, lockernet, table_rows  # noqa: F401
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import SiteRig, labels
from tests.eventually import eventually, eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

BRISK = Pace(handling_s=0.0, glance_s=0.05, patience_s=10.0)


def _parcel(central: CentralService, name: str) -> ParcelRecord | None:
    with central.store.transaction() as session:
        return session.get_parcel(name)


def _site_known(central: CentralService, site: str) -> bool:
    with central.store.transaction() as session:
        return session.get_site(site) is not None


def _state(central: CentralService, name: str) -> str | None:
    record = _parcel(central, name)
    return None if record is None else record.state


def test_a_return_dropped_off_at_a_locker_through_the_scanner_ends_back_with_its_partner(
    tmp_path: Path,
    broker: PrivateBroker,
    topics: Topics,
    start_central: Callable[..., CentralService],
    lockernet: Run,  # noqa: F811
) -> None:
    central = start_central(clock=SystemClock())  # runs the durable command tasks
    announce_all(central, 1)  # the parcel the consumer sends back
    (returned,) = labels(1, start=500)
    rig = SiteRig(tmp_path / "site", broker, topics, site_id="L0001", signer=central.signer)

    async def scenario() -> None:
        agent = await rig.start()
        try:
            await eventually_async(lambda: _site_known(central, "L0001"), 20, "the site heard")
            code, out, err = lockernet(
                "returns", "issue", returned, "--partner", "post", "--size", "M",
                "--site", "L0001", "--return-of", label(1),
            )  # fmt: skip
            assert code == 0, err
            text = out.splitlines()[-1]
            assert text.startswith("LNR:") and "at L0001" in out
            assert _state(central, returned) == "return_issued"

            report = await Returner(rig.sim, BRISK).drop_off(text, returned)
            assert report.placed, report
            await eventually_async(
                lambda: _state(central, returned) == "return_dropped_off", 20, "the drop-off"
            )
            # The site was told to let a courier take it out, as it is for an expired parcel.
            await eventually_async(
                lambda: agent.store.read().removal_reason(returned) == "return",
                20,
                "the collection order at the site",
            )
            # The same label a second time opens no door: it was used.
            await scan_opens_nothing(agent, rig.sim, text)
            events = [decode(Event, m).payload for m in agent.store.event_messages()]
            refused = [e for e in events if isinstance(e, ScanRefused)]
            assert [(e.kind, e.reason) for e in refused] == [
                (ScanKind.RETURN_LABEL, ScanRefusal.ALREADY_USED)
            ]

            collected = await ReturnsCourier(rig.sim, BRISK).collect(rig.badge(), [returned])
            assert collected.collected == [returned], collected
            await eventually_async(
                lambda: _state(central, returned) == "return_collected", 20, "the collection"
            )
        finally:
            await rig.stop()

    asyncio.run(scenario())
    [row] = [r for r in table_rows(lockernet("returns", "list")[1]) if returned in r]
    assert row[1:6] == [returned, "post", "M", "L0001", "return_collected"]
    receipt = row[-1]
    assert receipt.startswith("R-") and "L0001" in row[-2]

    code, out, err = lockernet("returns", "receive", returned)
    assert code == 0 and f"return {returned} is back with post" in out, err
    assert _state(central, returned) == "returned"
    with central.store.transaction() as session:
        steps = [s.step for s in session.steps(returned)]
        receipts = session.notifications(returned)
    assert steps == ["issue_return", "drop_off_return", "collect_return", "receive_return"]
    # The consumer of the original parcel got the receipt, once per channel they have.
    assert sorted(n.channel for n in receipts) == ["email", "sms"]
    assert {n.message for n in receipts} == {"return_received"}
    code, _, err = lockernet("returns", "receive", returned)
    assert code == 2 and "returned" in err  # once


def test_bad_return_input_is_named_and_writes_nothing(lockernet: Run) -> None:  # noqa: F811
    (returned,) = labels(1, start=600)
    cases = [
        (["--size", "XXL"], "size 'XXL'"),
        (["--size", "M", "--site", "L9999"], "site L9999 is not known"),
        (["--size", "M", "--days", "0"], "days 0"),
        (["--size", "M", "--return-of", label(77)], f"return_of {label(77)}"),
    ]
    for extra, message in cases:
        code, _, err = lockernet("returns", "issue", returned, "--partner", "post", *extra)
        assert code == 2 and message in err, (extra, err)
    code, _, err = lockernet("returns", "issue", "not a label", "--partner", "post", "--size", "M")
    assert code == 2 and "label 'not a label'" in err
    code, _, err = lockernet("returns", "receive", returned)
    assert code == 2 and f"return {returned} is not known" in err
    assert lockernet("returns", "list")[1].strip() == "no returns"


def test_a_drop_off_orders_a_collection_and_one_central_never_issued_is_an_exception(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
) -> None:
    from central.parcels.returns import issue_return

    central = start_central()
    log = SiteEvents("L0001")
    site = open_site(make_site)
    eventually(lambda: _site_known(central, "L0001"), what="the site heard")
    known, forged = labels(2, start=800)
    with central.store.transaction() as session:
        issued = issue_return(
            session, central.signer, label=known, partner="post", size="S", site=None, now=0.0
        )
    nonce, return_id = "ab" * 8, issued.record.return_id
    site.send(
        log.next(ReturnDroppedOff(label=known, return_id=return_id, slot="A", label_id=nonce)),
        log.next(ReturnDroppedOff(label=forged, return_id="ret-made-up", slot="B", label_id=nonce)),
    )
    eventually(lambda: _state(central, forged) == "exception", what="the unknown return")
    assert _state(central, known) == "return_dropped_off"
    [order] = eventually(lambda: site.commands_of("mark_for_removal"), what="MarkForRemoval")
    assert (getattr(order.body, "parcels", None), getattr(order.body, "reason", None)) == (
        [known],
        RemovalReason.RETURN,
    )
    site.send(log.removal(known, "A", RemovalReason.RETURN))
    eventually(lambda: _state(central, known) == "return_collected", what="the collection")
    with central.store.transaction() as session:
        assert [r.label for r in session.open_removals("L0001")] == []
        record = session.get_return_label(issued.record.return_id)
    assert record is not None and (record.dropped_site, record.dropped_slot) == ("L0001", "A")
