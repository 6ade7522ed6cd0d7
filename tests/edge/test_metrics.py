"""The agent's /metrics: a real agent (hw_sim devices on real ptys, a real broker) with
[metrics] on a free port, scans made at its scanner, scraped over HTTP and read by
prometheus_client's own text parser."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from central.broker.launcher import free_port
from edge.config import MetricsConfig
from edge.errors import ConfigError
from edge.host.metrics import AgentMetrics, MetricsEndpoint
from hw_sim.devices.site import LABEL_SYMBOLOGY
from hw_sim.people.people import Courier
from tests.edge.answers import scan_answered, scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {key}"
    return samples[key]


def when(samples: Samples, **wanted: float) -> Samples | None:
    """`samples` if each named gauge is at its wanted value (an outbox depth of 1 means at
    least 1), else None: a predicate for eventually."""
    for name, target in wanted.items():
        got = value(samples, name)
        if not (got >= target if name.endswith("depth") and target else got == target):
            return None
    return samples


def test_scans_unlocks_refusals_outbox_and_link_move_as_the_site_works(
    tmp_path, broker, topics
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    observer = Observer(broker, topics, "L0001")  # central's part: the events have a taker

    async def scenario() -> None:
        rig = SiteRig(
            tmp_path,
            broker,
            topics,
            overrides={"metrics.listen": f"127.0.0.1:{port}", "metrics.refresh_s": 0.05},
        )
        agent = await rig.start()
        endpoint = MetricsEndpoint(agent, rig.config.metrics)
        endpoint.start()

        async def scraped() -> Samples:
            return await asyncio.to_thread(scrape, url)

        try:
            before = await scraped()
            for result in ("opened", "accepted", "refused"):
                assert value(before, "lockernet_site_scans_total", result=result) == 0
            assert value(before, "lockernet_site_unlocks_total", result="ok") == 0
            lock_port = str(rig.devices_dir / "locks")
            scanner_port = str(rig.devices_dir / "scanner")
            for kind in ("bad_crc", "timeout", "framing", "port"):
                assert (
                    value(before, "lockernet_site_serial_errors_total", port=lock_port, kind=kind)
                    >= 0
                )
            assert (
                value(
                    before, "lockernet_site_serial_errors_total", port=scanner_port, kind="framing"
                )
                == 0
            )

            # A courier deposits a reserved parcel: the badge is accepted, the label opens a
            # door, the board confirms the unlock.
            (parcel,) = labels(1)
            await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in report.placed, report
            await eventually_async(lambda: agent.door_opened_for(parcel) is not None, what="door")
            # A label no one announced: refused, no door.
            await scan_opens_nothing(agent, rig.sim, "RR123456784CN", LABEL_SYMBOLOGY)
            after = await scraped()
            assert value(after, "lockernet_site_scans_total", result="accepted") == 1
            assert value(after, "lockernet_site_scans_total", result="opened") == 1
            assert value(after, "lockernet_site_scans_total", result="refused") == 1
            assert value(after, "lockernet_site_scan_refusals_total", reason="bad_label") == 1
            assert value(after, "lockernet_site_unlocks_total", result="ok") == 1
            assert value(after, "lockernet_site_unlocks_total", result="failed") == 0

            # The uplink lost: link_up falls to 0 and the refused scan's event waits in the
            # outbox; back up, the outbox drains and link_up is 1 again.
            await eventually_async(
                lambda: agent.link.connected and agent.store.pending_count() == 0, what="drained"
            )
            assert value(await scraped(), "lockernet_site_link_up") == 1
            agent.link.take_down()
            await scan_answered(agent, rig.sim, "RR000000000CN", LABEL_SYMBOLOGY)
            down = await eventually_async(
                lambda: when(scrape(url), lockernet_site_outbox_depth=1, lockernet_site_link_up=0),
                what="the refused scan's event waiting in the outbox, the link down",
            )
            assert value(down, "lockernet_site_outbox_depth") >= 1
            agent.link.bring_up()
            await eventually_async(
                lambda: when(scrape(url), lockernet_site_outbox_depth=0, lockernet_site_link_up=1),
                what="the outbox drained, the link up",
            )
        finally:
            await endpoint.stop()
            await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        observer.close()


def test_a_port_in_use_is_named_with_its_key(tmp_path, broker, topics) -> None:
    port = free_port()

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides={"metrics.listen": f"127.0.0.1:{port}"})
        agent = await rig.start()
        first = MetricsEndpoint(agent, rig.config.metrics)
        first.start()
        try:
            with pytest.raises(ConfigError, match=f"metrics.listen: .*127.0.0.1:{port}"):
                MetricsEndpoint(agent, rig.config.metrics).start()
        finally:
            await first.stop()
            await rig.stop()

    asyncio.run(scenario())


def test_agents_in_one_process_have_registries_of_their_own() -> None:
    first, second = AgentMetrics(), AgentMetrics()
    first.unlocked(True)
    assert first.registry.get_sample_value("lockernet_site_unlocks_total", {"result": "ok"}) == 1
    assert second.registry.get_sample_value("lockernet_site_unlocks_total", {"result": "ok"}) == 0


def test_metrics_are_off_unless_listen_is_set() -> None:
    assert MetricsConfig().listen is None
    with pytest.raises(ValueError, match="1-65535"):
        MetricsConfig(listen="127.0.0.1:70000")
