"""An operator's remote open and service switch against a real site agent: central's slot
follows the door from the site's events (not from the next state snapshot), and the audit
entry follows the command to the site's answer: sent, done, or refused by the site."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.operator.remote import remote_open, set_slot_service
from central.service.service import CentralService
from central.store import SlotRecord
from central.store.queries.audit import AuditEntry
from central.web.auth import Role, User
from protocols.clock import SystemClock
from protocols.messages import SlotState
from protocols.topics import Topics
from tests.edge.rig import SiteRig
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

SITE = "L0001"
TECHNICIAN = User("tarik", Role.TECHNICIAN)


def central_slot(central: CentralService, slot: str) -> SlotRecord | None:
    with central.store.transaction() as session:
        return session.get_slot(SITE, slot)


def snapshot_at(central: CentralService) -> float | None:
    with central.store.transaction() as session:
        record = session.get_site(SITE)
    return record.snapshot_at if record is not None else None


def audit_entry(central: CentralService, entry_id: int | None) -> AuditEntry:
    with central.store.transaction() as session:
        return next(e for e in session.audit_entries(50, site=SITE) if e.id == entry_id)


def slot_shows(central: CentralService, slot: str, state: SlotState, door: str) -> bool:
    found = central_slot(central, slot)
    return found is not None and (found.state, found.door) == (state, door)


def test_a_remote_open_and_the_door_closing_show_at_central_and_in_the_audit_log(
    tmp_path: Path,
    broker: PrivateBroker,
    topics: Topics,
    start_central: Callable[..., CentralService],
) -> None:
    central = start_central(clock=SystemClock())
    rig = SiteRig(tmp_path / "site", broker, topics, site_id=SITE, signer=central.signer)

    async def scenario() -> None:
        await rig.start()
        try:
            await eventually_async(
                lambda: slot_shows(central, "A01", SlotState.FREE, "closed"),
                what="the site's slots at central",
            )
            snapshot = snapshot_at(central)
            opened = remote_open(
                central.store,
                actor=TECHNICIAN,
                site=SITE,
                slot="A01",
                reason="consumer locked out, ticket 88",
                now=time.time(),
            )
            assert opened.outcome == "queued"
            assert opened.command_id is not None and opened.command_id.startswith("task:")
            door = rig.sim.compartment(0, 1)
            await eventually_async(door.door_open, what="A01's door to open at the site")
            await eventually_async(
                lambda: slot_shows(central, "A01", SlotState.OPEN_FOR_DEPOSIT, "open"),
                what="central to show A01 open",
            )
            # The door is open: the site refuses to take the slot out of service, and says so.
            refused = set_slot_service(
                central.store,
                actor=TECHNICIAN,
                site=SITE,
                slot="A01",
                in_service=False,
                reason="hinge broken",
                now=time.time(),
            )
            await eventually_async(
                lambda: audit_entry(central, refused.id).outcome.startswith("refused by site"),
                what="the site's refusal in the audit log",
            )
            entry = audit_entry(central, refused.id)
            assert entry.outcome == (
                "refused by site: slot_unavailable a slot that is open_for_deposit cannot "
                "take_out_of_service"
            ), entry
            assert entry.command_id is not None and not entry.command_id.startswith("task:")

            assert door.close_door()
            await eventually_async(
                lambda: slot_shows(central, "A01", SlotState.FREE, "closed"),
                what="central to show A01 free and shut",
            )
            assert snapshot_at(central) == snapshot  # the events did it, not a new snapshot
            done = audit_entry(central, opened.id)
            assert done.outcome == "done", done
            assert done.command_id is not None and not done.command_id.startswith("task:")

            # Taken out of service once shut: done, and the slot shows it at once.
            out = set_slot_service(
                central.store,
                actor=TECHNICIAN,
                site=SITE,
                slot="A01",
                in_service=False,
                reason="hinge broken",
                now=time.time(),
            )
            await eventually_async(
                lambda: audit_entry(central, out.id).outcome == "done",
                what="the site to take A01 out of service",
            )
            await eventually_async(
                lambda: slot_shows(central, "A01", SlotState.OUT_OF_SERVICE, "closed"),
                what="central to show A01 out of service",
            )
        finally:
            await rig.stop()

    asyncio.run(scenario())
