"""Refused scans and scanner lockouts at central: a site's bad codes are counted by reason,
a lockout raises an alarm the operator reads in local time, cleared when the lockout ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.parcels.tasks import TaskRunner
from central.service.config import IngestConfig, PickupConfig
from central.service.service import CentralService
from central.sites.alarms import AlarmKind
from central.sites.ingest import Delivery, Ingest
from central.sites.lockouts import LockoutEnds
from central.sites.site_events import EventEffects
from central.store import SqliteStore
from central.store.records import TaskKind
from protocols.clock import SystemClock
from protocols.localtime import timestamp
from protocols.messages import (
    Event,
    ScanKind,
    ScannerLockedOut,
    ScanRefusal,
    ScanRefused,
    encode,
)
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import SiteEvents
from tests.central.test_cli import Run, config_file, lockernet, table_rows  # noqa: F401
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import SiteRig
from tests.eventually import eventually, eventually_async

TOPICS = Topics("lockernet-test/refusals/v1")
T0 = 1_800_000_000.0
SITE = "L0001"


def deliveries(*events: Event) -> list[Delivery]:
    return [Delivery(TOPICS.site(e.site, SiteChannel.EVENTS), encode(e)) for e in events]


def lockout_alarms(store: SqliteStore) -> list[tuple[float, str]]:
    with store.transaction() as session:
        return [
            (a.opened_at, a.detail or "")
            for a in session.list_alarms()
            if a.kind == AlarmKind.SCANNER_LOCKED_OUT.value
        ]


def test_refusals_count_once_per_event_and_a_lockout_ends_on_its_own_time(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = Ingest(store, TOPICS, EventEffects(PickupConfig()), IngestConfig())
    runner = TaskRunner(
        store,
        owner="test",
        lease_s=60,
        handlers={TaskKind.END_LOCKOUT.value: LockoutEnds(store).run_tasks},
    )
    log = SiteEvents(SITE, at=T0)
    bad = [
        log.next(ScanRefused(kind=ScanKind.PICKUP_CODE, reason=ScanRefusal.BAD_SIGNATURE))
        for _ in range(3)
    ]
    expired = log.next(
        ScanRefused(kind=ScanKind.PICKUP_CODE, reason=ScanRefusal.EXPIRED, detail="at 9")
    )
    first = log.next(ScannerLockedOut(failures=3, until=T0 + 300))
    ingest.commit(deliveries(*bad, expired, first), T0 + 10)
    ingest.commit(deliveries(bad[0], expired), T0 + 11)  # delivered twice: counted once
    with store.transaction() as session:
        counts = {r.reason: (r.count, r.last_detail) for r in session.scan_refusals(SITE)}
    assert counts == {"bad_signature": (3, None), "expired": (1, "at 9")}
    [(opened, detail)] = lockout_alarms(store)
    assert opened == first.at
    assert detail == f"3 refused scans: scanner locked until {timestamp(T0 + 300)}"
    assert detail.endswith("SGT")

    # A second lockout before the first one's time is up: the first one's end does not
    # clear the second's alarm; the second's end does.
    second = log.next(ScannerLockedOut(failures=5, until=T0 + 900))
    ingest.commit(deliveries(second), T0 + 200)
    runner.run_due(T0 + 301)
    [(opened, detail)] = lockout_alarms(store)
    assert opened == second.at and "5 refused scans" in detail
    runner.run_due(T0 + 899)
    assert len(lockout_alarms(store)) == 1  # the sentinel: its task was due and not yet run
    runner.run_due(T0 + 901)
    assert lockout_alarms(store) == []
    with store.transaction() as session:
        assert session.open_tasks(TaskKind.END_LOCKOUT.value) == []
    store.close()


@pytest.mark.broker
@pytest.mark.pty
def test_bad_codes_at_a_real_site_show_at_central_until_the_lockout_ends(
    tmp_path: Path,
    broker: PrivateBroker,
    topics: Topics,
    start_central: Callable[..., CentralService],
    lockernet: Run,  # noqa: F811
) -> None:
    central = start_central(clock=SystemClock())
    rig = SiteRig(
        tmp_path / "site",
        broker,
        topics,
        site_id=SITE,
        signer=central.signer,
        overrides={"timing.scan_failures_before_lockout": 3, "timing.lockout_s": 4},
    )
    forger = TokenSigner.generate()  # codes central never signed: someone trying codes

    async def scenario() -> None:
        agent = await rig.start()
        try:
            for n in range(3):
                code = rig.pickup_code(f"RR{12345678 + n:08d}0SG", signer=forger)
                await scan_opens_nothing(agent, rig.sim, code)
            await eventually_async(
                lambda: agent.store.pending_count() == 0, what="the events sent to central"
            )
        finally:
            await rig.stop()

    asyncio.run(scenario())
    alarm = eventually(
        lambda: [a for a in central.store_alarms() if a.kind == "scanner_locked_out"],
        what="the lockout alarm at central",
    )[0]
    assert alarm.site == SITE and alarm.detail is not None
    assert alarm.detail.startswith("3 refused scans: scanner locked until ")
    assert alarm.detail.endswith("SGT")

    code, out, err = lockernet("fleet", "--site", SITE)
    assert code == 0, err
    [refused] = [r for r in table_rows(out) if r[0] == "bad_signature"]
    assert refused[1] == "3"
    assert any("scanner_locked_out" in r for r in table_rows(out))
    assert "refused scans 3 by reason:" in out

    # The lockout lasts 4 s at the site: central's END_LOCKOUT task clears its alarm then.
    eventually(
        lambda: not [a for a in central.store_alarms() if a.kind == "scanner_locked_out"],
        timeout=20,
        what="the lockout alarm cleared at the lockout's end",
    )
