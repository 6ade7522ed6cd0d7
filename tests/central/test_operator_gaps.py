"""What operators missed, one test each: showing a pickup code without revoking it, the
fleet filtered, sorted and one site in detail, the site_offline alarm dated by when the site
was last heard, and every command piped into `head` ending quietly."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import zxingcpp
from PIL import Image

from central.parcels.manifest import write_manifest
from central.service.config import CentralConfig, IngestConfig, LivenessConfig, PickupConfig
from central.service.service import CentralService
from central.sites import registry
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import SqliteStore
from protocols.clock import SystemClock
from protocols.localtime import timestamp
from protocols.messages import Heartbeat, SiteStatus, SizeClass, SlotState, encode
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    announcement,
    label,
    small_network,
    snapshot,
)
from tests.central.test_cli import Run, config_file, lockernet, table_rows  # noqa: F401
from tests.eventually import eventually

T0 = 1_800_000_000.0
LOCKERNET = str(Path(sys.executable).parent / "lockernet")


def _barcode(png: Path) -> str:
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.read_bytes())))
    return str(found.text)


def test_qr_show_writes_the_current_code_and_revokes_nothing(
    tmp_path: Path,
    config: CentralConfig,
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    lockernet: Run,  # noqa: F811
) -> None:
    central = start_central(clock=SystemClock())  # real time, as the CLI keeps
    site = make_site("L0001", now=time.time)
    site.state(snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "AB"]))
    manifest = tmp_path / "manifest.json"
    write_manifest([announcement(1, preferred_site="L0001")], manifest)
    lockernet("parcels", "import", str(manifest))
    site.send(SiteEvents("L0001").deposit(label(1), "A"))
    sent = config.pickup.notify_folder / f"{label(1)}.png"
    eventually(sent.exists, what="the consumer's code written")
    consumer_holds = _barcode(sent)

    code, out, err = lockernet("qr", "show", label(1), "-o", str(tmp_path / "code.png"))
    assert code == 0, err
    assert _barcode(tmp_path / "code.png") == consumer_holds == out.splitlines()[-1]
    assert "(unchanged)" in out and "SGT" in out
    with central.store.transaction() as session:
        assert [c.status for c in session.codes(label(1))] == ["active"]

    # The old form reissued; now it says what to type, and changes nothing.
    code, _, err = lockernet("qr", label(1), "-o", str(tmp_path / "old.png"))
    assert code == 2 and "qr show" in err and "qr reissue" in err
    assert not (tmp_path / "old.png").exists()
    # Reissuing is the sentinel: its RevokeCode reaches the site; qr show's never did.
    assert lockernet("qr", "reissue", label(1), "-o", str(tmp_path / "new.png"))[0] == 0
    [revoke] = eventually(lambda: site.commands_of("revoke_code"), what="RevokeCode sent")
    assert getattr(revoke.body, "code_id", None) is not None
    assert _barcode(tmp_path / "new.png") != consumer_holds
    code, _, err = lockernet("qr", "show", label(2), "-o", str(tmp_path / "none.png"))
    assert code == 2 and "no active pickup code" in err


def _fleet_store(config: CentralConfig) -> None:
    """L0001 online and full with two forced doors, L0002 offline, C0001 never heard from."""
    store = SqliteStore(config.store.path)
    now = time.time()
    with store.transaction() as session:
        registry.load_network(session, small_network())
        full = [(s, SizeClass.S, SlotState.OCCUPIED, label(i)) for i, s in enumerate("AB", 1)]
        registry.apply_snapshot(session, snapshot("L0001", full, at=now), now)
        for site, online in (("L0001", True), ("L0002", False)):
            status = SiteStatus(site=site, online=online, boot_id="b1", at=now)
            registry.apply_status(session, status, now, "test")
        for slot in "AB":
            raise_alarm(session, "L0001", AlarmKind.DOOR_FORCED, now, ref=slot, detail="forced")
    store.close()


def _sites(out: str) -> list[str]:
    return [row[0] for row in table_rows(out) if row[0] in ("L0001", "L0002", "C0001")]


def test_fleet_filters_sorts_by_problems_and_shows_one_site(
    config: CentralConfig,
    lockernet: Run,  # noqa: F811
) -> None:
    _fleet_store(config)
    code, out, _ = lockernet("fleet")
    assert code == 0
    assert "sites 3: online 1, offline 1, link unknown 0, never heard from 1" in out
    assert _sites(out) == ["C0001", "L0001", "L0002"]
    [counter] = [r for r in table_rows(out) if r[0] == "C0001"]
    assert counter[2] == "never"  # not "?" beside a header that counts it as never heard
    assert _sites(lockernet("fleet", "--state", "offline")[1]) == ["L0002"]
    assert _sites(lockernet("fleet", "--state", "online")[1]) == ["L0001"]
    assert _sites(lockernet("fleet", "--state", "full")[1]) == ["L0001"]
    assert _sites(lockernet("fleet", "--state", "alarms")[1]) == ["L0001", "L0002"]
    assert _sites(lockernet("fleet", "--state", "never")[1]) == ["C0001"]
    assert _sites(lockernet("fleet", "--kind", "counter")[1]) == ["C0001"]
    out = lockernet("fleet", "--sort", "problems")[1]
    assert _sites(out) == ["L0001", "L0002", "C0001"]  # 2 alarms; offline with 1; fine
    out = lockernet("fleet", "--sort", "problems", "--limit", "1")[1]
    assert _sites(out) == ["L0001"] and "... and 2 more sites" in out

    code, out, _ = lockernet("fleet", "--site", "L0001")
    assert code == 0
    assert out.splitlines()[0] == "site L0001 (locker): Tampines Hub Locker"
    assert "link online; last heard " in out and "SGT" in out
    [occupied] = [r for r in table_rows(out) if r[0] == "occupied"]
    assert occupied == ["occupied", "2", "A B"]
    assert [r[3] for r in table_rows(out) if "door_forced" in r] == ["A", "B"]
    assert "refused scans 0" in out
    code, _, err = lockernet("fleet", "--site", "L9999")
    assert code == 2 and "L9999 is not in the registry" in err


def test_site_offline_says_when_the_site_was_last_heard_not_when_it_connected(
    tmp_path: Path,
) -> None:
    topics = Topics("lockernet-test/gaps/v1")
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = Ingest(
        store,
        topics,
        EventEffects(PickupConfig()),
        IngestConfig(),
        liveness=LivenessConfig(stale_after_s=60.0),
    )

    def status(site: str, retained: bool) -> Delivery:
        # A last will carries the time its connection was made: a day before it fires.
        will = SiteStatus(site=site, online=False, boot_id="b1", at=T0 - 86_400)
        return Delivery(topics.site(site, SiteChannel.STATUS), encode(will), retained=retained)

    def beat(site: str, at: float) -> Delivery:
        message = Heartbeat(site=site, boot_id="b1", at=at, last_seq=0, interval_s=15.0)
        return Delivery(topics.site(site, SiteChannel.HEARTBEAT), encode(message))

    ingest.commit([beat("L0001", T0), beat("L0002", T0)], T0)
    ingest.commit([status("L0001", retained=False)], T0 + 40)  # the will fires, live
    # L0002's will is replayed to a central that starts an hour later: the drop was before.
    ingest.commit([status("L0002", retained=True)], T0 + 3600)
    with store.transaction() as session:
        found = {a.site: a for a in session.list_alarms() if a.kind == "site_offline"}
    assert found["L0001"].opened_at == T0 + 40
    assert found["L0001"].detail is not None
    assert f"last heard {timestamp(T0)}" in found["L0001"].detail
    assert timestamp(T0 - 86_400) not in found["L0001"].detail
    assert found["L0002"].opened_at == T0  # when it was last heard, not the replay's time
    assert found["L0002"].detail is not None
    assert f"replayed by the broker); last heard {timestamp(T0)}" in found["L0002"].detail
    store.close()


def test_commands_piped_into_a_reader_that_left_end_quietly(
    tmp_path: Path,
    config_file: Path,  # noqa: F811
    lockernet: Run,  # noqa: F811
) -> None:
    manifest = tmp_path / "manifest.json"
    write_manifest([announcement(1)], manifest)
    assert lockernet("parcels", "import", str(manifest))[0] == 0
    # The reader is gone before the command writes a byte: every write fails with EPIPE.
    for argv in (
        ["track", label(1)],
        ["fleet"],
        ["alarms"],
        ["badge", "issue", "K1", "--partner", "post", "--days", "1"],
    ):
        run = subprocess.Popen(
            [LOCKERNET, *argv, "--config", str(config_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert run.stdout is not None and run.stderr is not None
        run.stdout.close()
        err = run.stderr.read().decode()
        assert run.wait(timeout=60) == 0, (argv, err)
        assert err == "", (argv, err)
