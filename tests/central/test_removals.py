"""Removals of parcels a site no longer holds: central sends no courier for them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from central.service.config import CentralConfig
from central.service.service import CentralService
from protocols.clock import ManualClock
from tests.central.central_rig import Site, SiteEvents, label
from tests.central.test_central_service import announce_all, open_site, parcel
from tests.eventually import eventually

pytestmark = pytest.mark.broker


def _open_removals(central: CentralService) -> list[str]:
    with central.store.transaction() as session:
        return sorted(r.label for r in session.open_removals("L0001"))


def test_a_removal_the_site_cannot_make_is_closed_and_the_late_pickup_still_counts(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    config: CentralConfig,
    clock: ManualClock,
) -> None:
    central = start_central()
    announce_all(central, 1, 2)
    log = SiteEvents("L0001")
    site = open_site(make_site)
    site.send(log.deposit(label(1), "A"), log.deposit(label(2), "B"))
    eventually(lambda: parcel(central, 2).state == "ready_for_pickup", what="the deposits")
    # Both expire at central while, at the site, the consumer of parcel 1 has collected it
    # (its event not yet at central): the order reaches the site after the parcel left.
    clock.advance(config.pickup.window_s + 1)
    [order] = eventually(lambda: site.commands_of("mark_for_removal"), what="MarkForRemoval")
    assert sorted(getattr(order.body, "parcels", [])) == [label(1), label(2)]
    assert _open_removals(central) == [label(1), label(2)]

    site.reply(order, result={"marked": 1, "not_here": [label(1), label(9)]})
    eventually(lambda: _open_removals(central) == [label(2)], what="parcel 1's removal closed")
    # The site's pickup event arrives afterwards: the parcel is collected, nothing reopens.
    site.send(log.pickup(label(1), "A"))
    eventually(lambda: parcel(central, 1).state == "collected", what="the late pickup")
    assert _open_removals(central) == [label(2)]  # parcel 2 is there: its courier still goes


def test_a_removal_order_whose_answer_was_lost_is_sent_again_until_answered(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    config: CentralConfig,
    clock: ManualClock,
) -> None:
    from central.sites.commands import ANSWER_WAIT_S

    central = start_central()
    announce_all(central, 1)
    log = SiteEvents("L0001")
    site = open_site(make_site)
    site.send(log.deposit(label(1), "A"))
    eventually(lambda: parcel(central, 1).state == "ready_for_pickup", what="the deposit")
    clock.advance(config.pickup.window_s + 1)
    [first] = eventually(lambda: site.commands_of("mark_for_removal"), what="MarkForRemoval")
    # The site's answer is lost (its link dropped): central sends the order again.
    clock.advance(ANSWER_WAIT_S + 1)
    resent = eventually(
        lambda: [c for c in site.commands_of("mark_for_removal") if c.id != first.id],
        what="the resend",
    )
    assert getattr(resent[0].body, "parcels", None) == [label(1)]
    site.reply(resent[0], result={"marked": 0, "not_here": [label(1)]})
    eventually(lambda: _open_removals(central) == [], what="the removal closed")
