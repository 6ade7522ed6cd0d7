"""A spare Pi swapped in: a blank store and a clock at 1970, the field fault of issue 11's
kinds 1 and 3 at once, as a technician's swap really does it.

A site's Pi dies; a technician puts in a spare with a freshly imaged card. Its store is new
(a new epoch, none of central's reservations, none of the parcels behind the doors) and it has
no real-time clock and no NTP yet, so its wall clock reads 1970 and it has no witnessed time
at all. Central must reconcile the new stream (send its reservations again: the next
courier's labels are accepted; take the parcels the new store does not know to a technician's
check) and send the site its signed time (so valid badges are accepted), with no operator
action (central/sites/site_reconciliation.py, central/sites/site_clock.py).

How the simulator's day plays it on one site (its agent stopped and restarted around it; the
site's agent built on a `hw_sim.field.wall_clock.WrongClock`):

    site.retire_store()                       # keep what the lost store wrote, for the verdict
    await site.agent.stop()
    swap_in_spare_pi(site.agent.store.path, site.wall)
    site.agent = site.rebuild(); await site.agent.start()

and, some time later (central had a tick to reconcile and to send the time), the checks the
verdict counts as broken promises when they say anything:

    reservations_unknown_to_site(central_store, site_id, site.agent, made_before=<swap time>)
    site_clock_off(site.agent, true_now=<the day's clock>, tolerance_s=60)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hw_sim.field.store_faults import lose_store
from hw_sim.field.wall_clock import WrongClock

if TYPE_CHECKING:
    from central.store import CentralStore
    from edge.agent import SiteAgent


def swap_in_spare_pi(store_path: Path, wall: WrongClock) -> list[Path]:
    """The site's store is gone and its wall clock reads 1970 (the agent must be stopped;
    start a new one after). Returns the store files deleted."""
    removed = lose_store(store_path)
    wall.boot_at_1970()
    return removed


def reservations_unknown_to_site(
    central: CentralStore, site: str, agent: SiteAgent, made_before: float
) -> list[str]:
    """Labels of reservations central holds at `site`, made before `made_before` (central's
    clock, Unix seconds: the swap), that the site's store neither expects nor holds: each a
    parcel whose courier would be refused at the door. Empty when the promise holds."""
    with central.transaction() as session:
        held = [r for r in session.held_reservations(site) if r.created_at <= made_before]
    read = agent.store.read()
    return sorted(
        r.label
        for r in held
        if read.expected(r.label) is None
        and read.slot_holding(r.label) is None
        and not read.on_shelf(r.label)
    )


def site_clock_off(agent: SiteAgent, true_now: float, tolerance_s: float) -> str | None:
    """Why the site's trusted time (what it checks badges and codes against) is off the true
    time by more than `tolerance_s`, or None when it is right (Unix seconds)."""
    off = agent.clock.now() - true_now
    if abs(off) <= tolerance_s:
        return None
    return f"site {agent.site}'s trusted time is {off:+.0f} s from the true time"
