"""Central's /metrics: real events through a private broker into a running central service,
scraped over its HTTP app and read by prometheus_client's own text parser."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from central.parcels.steps import announce
from central.service.config import CentralConfig
from central.service.metrics import CentralMetrics
from central.service.service import CentralService
from central.store.open import store_location
from central.web import metrics_route
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.logs import configure_logging
from protocols.messages import SizeClass, SlotState
from protocols.tokens import TokenSigner
from tests.central.central_rig import Site, SiteEvents, announcement, label, snapshot
from tests.eventually import eventually

pytestmark = pytest.mark.broker

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of GET /metrics, by (name, sorted labels), parsed by the client library."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metrics_client(central: CentralService, signer: TokenSigner, clock: ManualClock) -> TestClient:
    context = WebContext(
        config=central.config,
        store=central.store,
        reader_location=store_location(central.config.store),
        signer=signer,
        clock=clock,
        registry=central.metrics.registry,
    )
    # The route as create_app mounts it, alone: the other routers are not what is tested.
    app = FastAPI()
    app.include_router(metrics_route.router(context))
    return TestClient(app)


def test_metrics_move_when_a_site_deposits_and_picks_up(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    signer: TokenSigner,
    clock: ManualClock,
) -> None:
    central = start_central()
    with central.store.transaction() as session:
        for n in (1, 2):
            announce(session, announcement(n), clock.now())
    client = metrics_client(central, signer, clock)
    before = scrape(client)
    assert value(before, "lockernet_central_events_applied_total") == 0
    assert value(before, "lockernet_central_store_readable") == 1

    site = make_site("L0001")
    site.status(True)
    site.state(snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "AB"]))
    events = SiteEvents("L0001")
    deposits = [events.deposit(label(1), "A"), events.deposit(label(2), "B")]
    site.send(*deposits)
    site.send(events.pickup(label(1), "A"))
    site.send(deposits[0])  # a resend: counted as a duplicate, applied once
    site.send(events.door_forced("B"))  # raises a door_forced alarm

    after = eventually(
        lambda: (
            s
            if value(s := scrape(client), "lockernet_central_events_duplicate_total") >= 1
            and value(s, "lockernet_central_events_applied_total") >= 4
            else None
        ),
        what="the deposits, the pickup, the forced door and the resend counted",
    )
    received = "lockernet_central_events_received_total"
    assert value(after, received, type="parcel_deposited") == 3  # the resend is received too
    assert value(after, received, type="parcel_picked_up") == 1
    assert value(after, received, type="door_forced") == 1
    assert value(after, "lockernet_central_events_applied_total") == 4
    assert value(after, "lockernet_central_events_duplicate_total") == 1
    # Every event's lag and every batch were observed; the commits were timed.
    assert value(after, "lockernet_central_ingest_lag_seconds_count") == 5
    assert value(after, "lockernet_central_ingest_batch_messages_count") >= 1
    assert value(after, "lockernet_central_ingest_batch_messages_sum") >= 7  # status, state too
    assert value(
        after, "lockernet_central_store_transaction_seconds_count", work="ingest_batch"
    ) == value(after, "lockernet_central_ingest_batch_messages_count")
    # Read from the store at the scrape: the forced door is open, the site online.
    assert value(after, "lockernet_central_alarms_open", kind="door_forced") == 1
    assert value(after, "lockernet_central_alarms_open", kind="site_offline") == 0
    assert value(after, "lockernet_central_sites_online") == 1
    assert value(after, "lockernet_central_sites") == 3  # the network file's three


def test_a_placement_wave_is_timed_and_its_parcels_counted(
    start_central: Callable[..., CentralService],
    signer: TokenSigner,
    clock: ManualClock,
    config: CentralConfig,
) -> None:
    central = start_central()
    client = metrics_client(central, signer, clock)
    assert value(scrape(client), "lockernet_central_placement_wave_seconds_count") == 0
    with central.store.transaction() as session:
        for n in (1, 2, 3):
            announce(session, announcement(n), clock.now())
    # The timer places parcels left announced for service.replace_after_s.
    clock.advance(config.service.replace_after_s + 1)
    after = eventually(
        lambda: (
            s
            if value(s := scrape(client), "lockernet_central_placement_wave_seconds_count") >= 1
            else None
        ),
        what="a placement wave by the timer",
    )
    placed = sum(
        value(after, "lockernet_central_parcels_placed_total", mode=mode)
        for mode in ("locker", "counter", "home")
    )
    assert placed == 3
    assert value(after, "lockernet_central_dispatch_seconds_count") >= 1


def test_two_processes_in_one_interpreter_have_registries_of_their_own() -> None:
    first, second = CentralMetrics(), CentralMetrics()
    first.events_applied.inc(5)
    assert first.registry.get_sample_value("lockernet_central_events_applied_total") == 5
    assert second.registry.get_sample_value("lockernet_central_events_applied_total") == 0


def test_an_unreadable_store_is_a_gauge_at_zero_not_a_failed_scrape(tmp_path: Path) -> None:
    metrics = CentralMetrics()

    def gone() -> object:
        raise OSError(f"{tmp_path / 'gone.sqlite'}: no such store")

    metrics.watch_store(gone)  # type: ignore[arg-type]
    assert metrics.registry.get_sample_value("lockernet_central_store_readable") == 0
    assert metrics.registry.get_sample_value("lockernet_central_events_applied_total") == 0


def test_json_log_format_writes_one_object_per_line(tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    with out.open("w") as stream:
        configure_logging("INFO", "json", stream)
        try:
            logging.getLogger("central.sites.alarms").info("site %s went offline", "L0001")
            logging.getLogger("central.x").debug("not at INFO")
        finally:
            configure_logging("WARNING", "text")
    [line] = out.read_text().splitlines()
    record = json.loads(line)
    assert record["message"] == "site L0001 went offline"
    assert record["level"] == "INFO" and record["logger"] == "central.sites.alarms"
    assert record["time"].endswith("+0000")


def test_an_operator_follows_sites_waves_and_deposits_in_the_log_at_info(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
    config: CentralConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="central")
    central = start_central()
    central.metrics.summary.interval_s = 0.0  # every batch's counts said at once
    with central.store.transaction() as session:
        for n in (1, 2, 3):
            announce(session, announcement(n), clock.now())
    site = make_site("L0001")
    site.status(True)
    site.state(snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "AB"]))
    site.send(SiteEvents("L0001").deposit(label(1), "A"))
    site.status(False)  # an orderly stop: offline, with its alarm

    def said(fragment: str) -> str | None:
        return next((m for r in caplog.records if fragment in (m := r.getMessage())), None)

    eventually(lambda: said("site L0001 went offline"), what="the site going offline")
    assert said("site L0001 is online") is not None
    summary = eventually(lambda: said("1 deposits"), what="the deposits counted")
    assert "0 pickups" in summary
    clock.advance(config.service.replace_after_s + 1)  # the timer places what waits
    wave = eventually(lambda: said("wave placed:"), what="the wave's line")
    assert "of 2 parcels" in wave and " s, dispatch " in wave
