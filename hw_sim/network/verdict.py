"""The day's verdict: every event a site wrote reached central once, no effect happened
twice, no invariant broke (a parcel in two places, a door that opened with no reason on
record, a site that lost track of a deposit, the field's promises), and central did not fail.

`settle` waits for central to hold every event the sites wrote; `summary` counts and judges.
What the sites wrote is read through their stores' public reads, what central holds through
central's read path (hw_sim/network/central_records.py).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw_sim.field.promises import field_promises_broken
from hw_sim.network.loop_lag import behind
from hw_sim.network.options import HOUR_S
from protocols.messages import SiteKind, SlotState

if TYPE_CHECKING:
    from hw_sim.network.world import World

SETTLE_LOOK_S = 3.0  # real seconds between two looks at central while settling


async def settle(fleet: World, timeout_s: float = 90.0) -> None:
    """Let the last events reach central before counting. Nothing is nudged: a site
    whose newest events central lacks is found by central itself (each heartbeat carries
    the site's newest seq, and central asks for a resend), so an event the broker took
    and never delivered must come back on its own, or the verdict fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _behind(fleet):
            return
        await asyncio.sleep(SETTLE_LOOK_S)
    fleet.progress(f"settle: {len(_behind(fleet))} site(s) still behind at central")


def _behind(fleet: World) -> list[str]:
    # The sites' counts first: an event written after them cannot make a site look
    # caught up. When none is behind, these counts are what the verdict checks: the
    # agents keep running (polls, timers) and an event written after this moment is in
    # flight when central stops, not lost.
    # Counted by event id, not by seq: a site whose store was lost or rolled back (field
    # faults) numbers seqs again, and central must hold every id all the same.
    written = {site_id: site.written_ids() for site_id, site in fleet.sites.items()}
    have = fleet.central_records.event_ids()
    behind = [site_id for site_id, ids in written.items() if not ids <= have[site_id]]
    if not behind:
        fleet.settled = written
    return behind


def summary(fleet: World) -> dict[str, Any]:
    """The day in figures and its verdict ("clean" or "failed"), as `lockernet sim` prints
    it and writes it to summary.json. Read after central has stopped."""
    tally = fleet.tally
    written = {site_id: site.written_ids() for site_id, site in fleet.sites.items()}
    counted = fleet.settled or written
    sent = sum(len(ids) for ids in counted.values())
    have = fleet.central_records.event_ids()
    received = sum(len(ids & have[site_id]) for site_id, ids in counted.items())
    parcels = fleet.central_records.parcels()
    tally.deposit_to_pickup_h = parcels.deposit_to_pickup_h
    central_counts, duplicate_effects = parcels.states, parcels.duplicate_effects
    agent_events = _agent_events(fleet)
    latencies = [ms for s in fleet.sites.values() for ms in s.agent.scan_latencies_ms]
    broken = _invariants(fleet)
    broken.extend(stuck_parcels(parcels.stuck, parcels.stuck_examples))
    lost = sent - received
    for central in fleet.centrals:
        if central.failure is not None and not central.killed:
            broken.append(f"{central.name} failed: {central.failure.strip().splitlines()[-1]}")
    lag = fleet.loop_lag.figures()
    fell_behind = behind(lag, *_agent_limits(fleet))
    clean = (
        lost == 0
        and duplicate_effects == 0
        and not broken
        and tally.taken_twice == 0
        and not fell_behind
    )
    sites = fleet.sites.values()
    return {
        "verdict": "clean" if clean else "failed",
        "sites": len(fleet.sites),
        "central_processes": len(fleet.centrals),
        "brokers": len(fleet.brokers),
        "store": fleet.options.store_kind,
        "lockers": sum(s.spec.kind is SiteKind.LOCKER for s in sites),
        "lockers_by_family": _families(fleet),
        "collection_points": sum(s.spec.kind is SiteKind.COUNTER for s in sites),
        "parcels": fleet.options.parcels,
        "deposited": agent_events["parcel_deposited"],
        "picked_up": agent_events["parcel_picked_up"],
        "expired": central_counts.get("expired", 0) + central_counts.get("removed", 0),
        "removed": agent_events["parcel_removed"],
        "home_delivery": central_counts.get("home", 0),
        "home_delivered": parcels.home.get("delivered", 0),
        "home_failed_redirected": parcels.home.get("failed_redirected", 0),
        "home_failed_returned": parcels.home.get("failed_returned", 0),
        "returns_issued": len(tally.returns),
        "returns_dropped_off": agent_events["return_dropped_off"],
        "parcels_stuck": parcels.stuck,
        **fleet.central_records.promise(),
        "notifications_sent": fleet.central_records.notifications_sent(),
        "events_sent": sent,
        "events_received": received,
        "events_lost": lost,
        "events_in_flight_at_end": sum(
            len(ids - counted.get(site_id, set())) for site_id, ids in written.items()
        ),
        "duplicate_effects": duplicate_effects + tally.taken_twice,
        "invariants_broken": broken,
        "simulator_fell_behind": fell_behind,
        **lag.summary(),
        "board_replies_on_last_look": sum(
            s.agent.driver.bus.stats.replies_on_last_look
            for s in sites
            if s.agent.driver is not None
        ),
        "scan_to_unlock_p50_ms": _round(statistics.median(latencies)) if latencies else None,
        "scan_to_unlock_p99_ms": _round(_percentile(latencies, 99)) if latencies else None,
        "sim_seconds": round(fleet.hour() * HOUR_S),
        "wall_seconds": round(time.perf_counter() - fleet.started, 1),
        "speedup": round(fleet.options.compression, 1),
        "peak_rss_mib": _peak_memory(fleet),
        "faults": tally.faults,
        "doors_left_open": tally.doors_left_open,
        "people_who_gave_up_waiting": tally.gave_up,
        "scans_unanswered_at_working_scanners": tally.unanswered,
        "parcel_states_at_central": central_counts,
        "alarms_at_central": fleet.central_records.alarms(),
    }


def stuck_parcels(
    stuck: Mapping[str, int], examples: Mapping[str, list[str]] | None = None
) -> list[str]:
    """The verdict's "no parcel stuck": one problem per state, of the states that wait for
    central or a courier (`stuck`: parcels by such a state at the day's end). A parcel waiting
    for its consumer, expired or removed, or an exception an operator must look at has its
    reason; one announced, assigned, out for delivery, failed at the door or redirected when
    every round is done has none. `examples` (by state: a few parcels described) names the
    cases after the count."""
    named = examples or {}
    return [
        f"{count} parcel(s) stuck {state} at the day's end (every round is done)"
        + (f", e.g. {'; '.join(named[state])}" if named.get(state) else "")
        for state, count in sorted(stuck.items())
        if count
    ]


def _agent_limits(fleet: World) -> tuple[float | None, float | None]:
    """The lockers' shortest board reply timeout and door-left-open limit, simulated
    seconds, as the agents' configurations say (None: no locker)."""
    lockers = [s.agent.config for s in fleet.sites.values() if s.agent.config.lock_bus]
    timeouts = [c.lock_bus.reply_timeout_s for c in lockers if c.lock_bus is not None]
    doors = [c.timing.door_left_open_s for c in lockers]
    return (min(timeouts) if timeouts else None, min(doors) if doors else None)


def _families(fleet: World) -> dict[str, int]:
    """Lockers by lock-board family, most first."""
    families = Counter(
        str(site.sim.config.profile)
        for site in fleet.sites.values()
        if site.spec.kind is SiteKind.LOCKER
    )
    return dict(families.most_common())


def _peak_memory(fleet: World) -> dict[str, float | None]:
    """Each process's peak resident memory, MiB (the broker's since its last restart)."""
    sites = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Summed over the day's central processes (those killed -9 report nothing) and brokers.
    centrals = [c.peak_rss_mib for c in fleet.centrals if c.peak_rss_mib is not None]
    central = round(sum(centrals), 1) if centrals else None
    brokers = [_vm_hwm_mib(b.pid) for b in fleet.brokers if b.pid is not None]
    broker = round(sum(b for b in brokers if b is not None), 1) if brokers else None
    total = sum(v for v in (sites, central, broker) if v is not None)
    return {
        "sites_and_people": round(sites, 1),
        "central": central,
        "broker": broker,
        "total": round(total, 1),
    }


def _agent_events(fleet: World) -> Counter[str]:
    counts: Counter[str] = Counter()
    for site in fleet.sites.values():
        for payload in site.payloads():
            counts[payload["type"]] += 1
    return counts


def _invariants(fleet: World) -> list[str]:
    """A parcel in two places, or a door that opened with no reason on record."""
    problems: list[str] = list(fleet.tally.broken)
    where: dict[str, str] = {}
    for site in fleet.sites.values():
        # The people of the day are all honest: the field's promises (no lockout, a
        # scanner fault for garbage, an echo known) hold at every site.
        problems.extend(field_promises_broken(site.spec.id, site.agent, site.sim))
        for compartment in site.sim.compartments():
            for parcel in compartment.contents:
                place = f"{site.spec.id}/{compartment.board}/{compartment.slot}"
                if parcel in where:
                    problems.append(f"{parcel} in {where[parcel]} and {place}")
                where[parcel] = place
        if site.spec.kind is not SiteKind.LOCKER:
            continue
        reasons: Counter[str] = Counter()
        for payload in site.payloads():
            if payload["type"] in ("door_opened", "door_forced"):
                reasons[payload["slot"]] += 1
        records = {r.id: r for r in site.agent.store.read().slots()}
        for config in site.agent.config.slots:
            compartment = site.sim.compartment(config.board, config.lock)
            record = records[config.id]
            if (
                record.state is SlotState.OCCUPIED
                and record.parcel is not None
                and record.parcel not in compartment.contents
            ):
                problems.append(
                    f"{site.spec.id} {config.id}: the site says {record.parcel} is inside, "
                    f"the compartment holds {list(compartment.contents)}"
                )
            # A door can open at most once per recorded reason (a door that was released
            # but stayed shut opens less).
            if compartment.openings > reasons[config.id]:
                problems.append(
                    f"{site.spec.id} {config.id} opened {compartment.openings}x with "
                    f"{reasons[config.id]} reasons on record"
                )
    return problems


def _vm_hwm_mib(pid: int) -> float | None:
    """A process's peak resident set (Linux's VmHWM), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


def _round(value: float) -> float:
    return round(value, 2)
