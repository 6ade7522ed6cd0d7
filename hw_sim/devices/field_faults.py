"""The field faults of serial adapters and scanners (issue 11, kinds 7, 9, 10), for the
simulator's day: one call to play them on a site, and one to list the promises an agent
broke under them.

    play_field_faults(site.sim)                     # echo, CR LF, AIM ids, 6 re-reads
    play_field_faults(site.sim, line_end=2)         # an LF-only scanner
    broken += field_promises_broken(site.spec.id, site.agent, site.sim)

Each fault is also a plain `FaultKind` for `SimulatedSite.set_fault` (docs/hwsim.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hw_sim.devices.faults import DEFAULT_REREADS, FaultKind
from hw_sim.devices.site import SimulatedSite
from hw_sim.errors import ConfigError

if TYPE_CHECKING:
    from edge.agent import SiteAgent

LINE_ENDS = {1: "CR LF", 2: "LF"}  # the scanner_suffix fault's values
# As edge/drivers/scanner.py: unreadable lines in a row that must have raised a fault.
UNREADABLE_LINES_FOR_FAULT = 3


def play_field_faults(
    site: SimulatedSite,
    *,
    echo: bool = True,
    line_end: int | None = 1,
    aim_ids: bool = True,
    rereads: int = DEFAULT_REREADS,
) -> str:
    """Switch on, on a served site, what real adapters and scanners do unasked: an adapter
    that echoes (only where the site has a lock bus), a scanner ending lines with
    `line_end` (1 = CR LF, 2 = LF, None = as configured), AIM ids before every code, and
    `rereads` re-reads of each code held in view (0: none). Returns a line for a fault log.
    Raises ConfigError (changing nothing) for a bad value or a site not served yet."""
    if line_end is not None and line_end not in LINE_ENDS:
        raise ConfigError(f"line_end is 1 (CR LF), 2 (LF) or None, not {line_end}")
    if rereads < 0:
        raise ConfigError("re-reads cannot be negative")
    if site.ports is None:
        raise ConfigError("serve the site before playing field faults on it")
    played = []
    if echo:
        site.set_fault(FaultKind.ADAPTER_ECHO, True)
        played.append("an echoing adapter")
    if line_end is not None:
        site.set_fault(FaultKind.SCANNER_SUFFIX, True, value=line_end)
        played.append(f"a {LINE_ENDS[line_end]} scanner")
    if aim_ids:
        site.set_fault(FaultKind.SCANNER_AIM_ID, True)
        played.append("AIM ids")
    if rereads:
        site.set_fault(FaultKind.SCANNER_REREADS, True, value=rereads)
        played.append(f"{rereads} re-reads of each code")
    return ", ".join(played) or "no field faults"


def field_promises_broken(site_id: str, agent: SiteAgent, site: SimulatedSite) -> list[str]:
    """What a site whose people are all honest must never show under the field faults:
    a scan lockout (only guessing may lock a site out), unreadable scanner lines in a row
    with no scanner fault raised, an echoing adapter the lock bus does not know of."""
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
