"""A consumer's return label at the site (edge/site/returns.py), on a manual clock, no I/O.

A valid label opens a free compartment of its size and the return counts only once the door
shuts with the parcel in; a forged label, another site's, an expired one or one used before
opens no door; at a counter the staff's scan puts it on the shelves.
"""

from __future__ import annotations

import os

import pytest

from edge.site import doors
from edge.site.actions import Unlock
from edge.site.slots import Trigger
from protocols.messages import ReturnDroppedOff, ScanKind, ScanRefusal, SiteKind, SlotState
from protocols.tokens import ANY_SITE, ReturnLabel, TokenSigner
from tests.edge.rig import labels
from tests.edge.site_twin import SITE
from tests.edge.test_site_scans import Site


def return_label(
    site: Site,
    label: str,
    *,
    at: str = SITE,
    size: str = "M",
    expires_in: float = 86_400,
    signer: TokenSigner | None = None,
) -> str:
    expires = int(site.clock.now() + expires_in)
    found = ReturnLabel("ret-1", label, at, size, expires, os.urandom(8))
    return (signer or site.signer).return_label(found)


def shut(site: Site, slot: str, occupied: bool | None) -> list:
    """The door of `slot` seen shut with the compartment `occupied`."""
    closed = doors.door_closed(site.twin.slot(slot), occupied, site.twin, None, 0.0)
    site.twin.carry_out(closed, site.state, site.clock.now())
    return closed


def dropped(site: Site) -> list[ReturnDroppedOff]:
    return [e for e in site.twin.written if isinstance(e, ReturnDroppedOff)]


def test_a_return_label_opens_a_free_compartment_and_counts_once_the_door_shuts_on_it() -> None:
    site = Site()
    (label,) = labels(1)
    site.hold("A02", labels(1, start=50)[0])  # the M slot is taken: the next size up opens
    actions = site.scan(return_label(site, label, size="M"))
    assert Unlock("A03", Trigger.CLOSED_EMPTY) in actions
    assert site.twin.slot("A03").state is SlotState.OPEN_FOR_DEPOSIT
    assert dropped(site) == []  # nothing reported until the door shuts on the parcel
    shut(site, "A03", True)
    [event] = dropped(site)
    assert (event.label, event.return_id, event.slot) == (label, "ret-1", "A03")
    assert site.twin.slot("A03").state is SlotState.OCCUPIED
    assert site.twin.slot("A03").parcel == label


def test_a_door_shut_on_nothing_lets_the_consumer_scan_the_label_again() -> None:
    site = Site()
    (label,) = labels(1)
    text = return_label(site, label)
    site.scan(text)
    shut(site, "A02", False)
    assert site.twin.returns == {}  # forgotten: not used
    assert dropped(site) == [] and site.twin.slot("A02").state is SlotState.FREE
    assert any(isinstance(a, Unlock) for a in site.scan(text))


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("forged", ScanRefusal.BAD_SIGNATURE),
        ("other_site", ScanRefusal.WRONG_SITE),
        ("expired", ScanRefusal.EXPIRED),
    ],
)
def test_a_forged_another_sites_or_expired_label_opens_no_door(variant, reason) -> None:
    site = Site()
    (label,) = labels(1)
    text = {
        "forged": lambda: return_label(site, label, signer=TokenSigner.generate()),
        "other_site": lambda: return_label(site, label, at="L0002"),
        "expired": lambda: return_label(site, label, expires_in=-1),
    }[variant]()
    refusal = site.refused(text)
    assert (refusal.kind, refusal.reason) == (ScanKind.RETURN_LABEL, reason)
    assert all(s.state is SlotState.FREE for s in site.twin.slots())  # no door opened
    assert site.twin.returns == {}


def test_a_label_for_any_site_opens_here() -> None:
    site = Site()
    (label,) = labels(1)
    assert any(isinstance(a, Unlock) for a in site.scan(return_label(site, label, at=ANY_SITE)))


def test_a_label_used_once_opens_no_door_the_second_time() -> None:
    site = Site()
    (label,) = labels(1)
    text = return_label(site, label)
    site.scan(text)
    # Scanned again while its door is still open: no second door.
    assert site.refused(text).reason is ScanRefusal.ALREADY_USED
    shut(site, "A02", True)
    refusal = site.refused(text)
    assert (refusal.reason, refusal.detail) == (ScanRefusal.ALREADY_USED, "dropped in A02")
    assert [s.id for s in site.twin.slots() if s.state is SlotState.OPEN_FOR_DEPOSIT] == []
    assert len(dropped(site)) == 1


def test_no_free_compartment_of_the_size_opens_nothing() -> None:
    site = Site()
    (label,) = labels(1)
    site.hold("A04", labels(1, start=60)[0])
    assert site.refused(return_label(site, label, size="XL")).reason is ScanRefusal.NO_FREE_SLOT


def test_at_a_counter_the_staffs_scan_puts_the_return_on_the_shelves_once() -> None:
    site = Site(SiteKind.COUNTER)
    first, second, third = labels(3)
    text = return_label(site, first)
    site.scan(text)
    [event] = dropped(site)
    assert (event.label, event.slot) == (first, "SHELF")
    assert site.twin.on_shelf(first)
    assert site.refused(text).reason is ScanRefusal.ALREADY_USED
    site.scan(return_label(site, second))
    # Two shelf places in the twin's counter: a third return is refused, not piled up.
    assert site.refused(return_label(site, third)).reason is ScanRefusal.NO_FREE_SLOT
