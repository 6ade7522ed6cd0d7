"""The field's promises, checked on a running agent after a day of honest people under the
field faults of serial adapters and scanners (issue 11, kinds 7, 9, 10; the faults are
played by hw_sim/devices/field_faults.py):

    broken += field_promises_broken(site.spec.id, site.agent, site.sim)

An agent's health is read through its own public parts (its scan lockout's statistics, its
scanner's line splitter, its lock bus's echo finding), never its store.
"""

from __future__ import annotations

from edge.agent import SiteAgent
from edge.drivers.scanner import UNREADABLE_LINES_FOR_FAULT
from hw_sim.devices.site import SimulatedSite


def field_promises_broken(site_id: str, agent: SiteAgent, site: SimulatedSite) -> list[str]:
    """What a site whose people are all honest must never show under the field faults:
    a scan lockout (only guessing may lock a site out), unreadable scanner lines in a row
    with no scanner fault raised, an echoing adapter the lock bus does not know of.
    Returns one line per broken promise, naming `site_id`."""
    broken = []
    lockouts = agent.scan_lockout.stats.lockouts
    if lockouts:
        broken.append(f"{site_id}: honest people locked out of the scanner {lockouts} time(s)")
    if agent.scanner is not None:
        run = agent.scanner.splitter.stats.unreadable_run
        if run >= UNREADABLE_LINES_FOR_FAULT and ("scanner", "scanner", "garbage") not in (
            agent.faults
        ):
            broken.append(f"{site_id}: {run} unreadable scanner lines and no scanner fault")
    if agent.driver is not None and site.adapter_echo and agent.driver.bus.stats.echo is False:
        broken.append(f"{site_id}: the lock bus's adapter echoes and the agent does not know")
    return broken
