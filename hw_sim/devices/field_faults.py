"""The field faults of serial adapters and scanners (issue 11, kinds 7, 9, 10), for the
simulator's day: one call to play them on a site (the promises an agent must keep under them
are checked around a real agent, in hw_sim/field/promises.py).

    play_field_faults(site.sim)                     # echo, CR LF, AIM ids, 6 re-reads
    play_field_faults(site.sim, line_end=2)         # an LF-only scanner

Each fault is also a plain `FaultKind` for `SimulatedSite.set_fault` (docs/hwsim.md).
"""

from __future__ import annotations

from hw_sim.devices.faults import DEFAULT_REREADS, FaultKind
from hw_sim.devices.site import SimulatedSite
from hw_sim.errors import ConfigError

LINE_ENDS = {1: "CR LF", 2: "LF"}  # the scanner_suffix fault's values


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
