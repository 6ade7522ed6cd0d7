"""The main job, small: a few sites through a short day with the broker restart and a site
outage; the verdict must be clean — no event lost, no effect duplicated, no invariant broken."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from central.broker.launcher import free_port
from central.sites.network import generate_network
from hw_sim.network.central_process import CentralProcess, CentralProcessError, CentralSpec
from hw_sim.network.fleet import (
    BUILD_ALLOWANCE_PER_SITE_S,
    BUILD_ALLOWANCE_S,
    SimOptions,
    day_clock,
    simulate,
)
from hw_sim.network.options import HOUR_S
from hw_sim.network.site_setup import family_of
from protocols.boards import BoardFamily
from protocols.clock import ScaledClock
from protocols.localtime import NETWORK_ZONE, local_datetime, local_midnight
from protocols.tokens import TokenSigner

pytestmark = pytest.mark.broker


def test_a_small_day_with_a_broker_restart_and_a_site_outage_loses_nothing(tmp_path):
    # Four lockers: two on the CU16 (one over a pty), one on the CU48 (over a pty), one on
    # the generic RS485 board (site_setup.FAMILY_TURNS).
    options = SimOptions(
        lockers=4, counters=4, couriers=6, parcels=120, seed=5, wall_s=30.0, pty_sites=2
    )
    lines: list[str] = []
    summary = asyncio.run(simulate(options, lines.append, tmp_path))
    tally = summary.pop("_tally")
    assert any("broker restart" in f for f in tally.faults)
    assert any("offline for an hour" in f for f in tally.faults)
    assert summary["events_lost"] == 0, summary
    assert summary["duplicate_effects"] == 0, summary
    assert summary["invariants_broken"] == [], (summary, tally.faults)
    assert summary["events_received"] == summary["events_sent"] > 0
    # Parcels really moved: deposited through doors and shelves, most collected.
    assert summary["deposited"] > 0 and summary["picked_up"] > summary["deposited"] // 2
    assert summary["lockers_by_family"] == {"cu16": 2, "cu48": 1, "rs485-8a": 1}
    # Couriers put parcels behind doors of every family (lockers L0001.. in the network's
    # order, which is the order the families take turns in).
    at = {place.split("/")[0] for place in tally.placed.values()}
    assert {family_of(int(site.removeprefix("L")) - 1) for site in at} == set(BoardFamily), at
    assert summary["verdict"] == "clean"


def test_processes_that_share_a_clock_anchor_read_the_same_simulated_time():
    day = ScaledClock(720.0)
    other = ScaledClock(*day.anchor)  # as central's process builds it
    assert abs(day.now() - other.now()) < 720.0 * 0.01  # within 10 ms of real time
    assert other.factor == day.factor


def test_the_simulated_day_is_the_networks_local_day_whenever_it_is_run():
    """Hour h of the day's plan is h o'clock in Singapore: the quiet hours (21:00-08:00) fall
    on the same rounds at whatever hour of the real day the simulator starts."""
    for hour, minute in ((0, 30), (8, 3), (15, 0), (23, 59)):
        at = datetime(2026, 12, 1, hour, minute, tzinfo=NETWORK_ZONE).timestamp()
        midnight = local_midnight(at)
        assert local_datetime(midnight) == datetime(2026, 12, 1, tzinfo=NETWORK_ZONE)
        assert local_datetime(midnight + 21 * HOUR_S).hour == 21
    options = SimOptions(lockers=50, counters=160, parcels=4000)
    midnight = local_midnight(time.time())
    clock = day_clock(options, 210, midnight)
    # The world is built in the allowance before midnight, then the day waits for it.
    ahead = midnight - clock.now()
    allowance = (BUILD_ALLOWANCE_S + BUILD_ALLOWANCE_PER_SITE_S * 210) * options.compression
    assert allowance - options.compression * 0.5 < ahead <= allowance


def test_a_central_that_cannot_start_is_reported_with_its_reason(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    network = generate_network(1, lockers=1, counters=1, couriers=1)
    signer = TokenSigner.generate()
    spec = CentralSpec(
        config={
            "broker": {"host": "127.0.0.1", "port": free_port(), "client_id": "sim-central"},
            "store": {"path": str(blocker / "central.sqlite")},
            "keys": {"signing_key": str(tmp_path / "key.pem")},
        },
        network=network,
        signing_key_pem=signer.private_pem(),
        clock_anchor=ScaledClock(10.0).anchor,
    )
    central = CentralProcess(spec, on_code=lambda *_: None, progress=lambda _: None)
    with pytest.raises(CentralProcessError, match="central did not start") as failed:
        central.start(timeout_s=60)
    assert "central.sqlite" in str(failed.value) or "not-a-folder" in str(failed.value)
    central.stop()
