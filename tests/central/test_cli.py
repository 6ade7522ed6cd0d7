"""The operator's commands: import, track, qr, diag, fleet, alarms, keygen."""

from __future__ import annotations

import getpass
import io
import logging
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from central.broker import PrivateBroker
from central.parcels.manifest import write_manifest
from central.service.config import CentralConfig
from central.service.service import CentralService
from central.sites.ingest import Delivery, Ingest
from central.sites.network import Network, save_network
from central.sites.site_events import EventEffects
from central.store import CodeRecord, SqliteStore
from protocols.cli import main
from protocols.clock import SystemClock
from protocols.messages import Command, Reply, SizeClass, SlotState, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    announcement,
    central_config,
    config_toml,
    label,
    snapshot,
)
from tests.eventually import eventually

CONTACT = ("Tan Wei Ling", "9123 4567", "wei.ling@example.sg")


@pytest.fixture
def config_file(
    tmp_path: Path, config: CentralConfig, network: Network, signer: TokenSigner
) -> Path:
    save_network(network, tmp_path / "network.json")
    (tmp_path / "central-key.pem").write_bytes(signer.private_pem())
    path = tmp_path / "central.toml"
    with_network = config.model_copy(
        update={"network": config.network.model_copy(update={"file": tmp_path / "network.json"})}
    )
    path.write_text(config_toml(with_network))
    return path


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def lockernet(config_file: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """`lockernet ARGS --config <the test's central.toml>`: (exit status, stdout, stderr)."""

    def run(*argv: str, config: Path | None = None) -> tuple[int, str, str]:
        code = main([*argv, "--config", str(config or config_file)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def table_rows(out: str) -> list[list[str]]:
    """The cells of each line of the tables in `out` (rich separates columns by 2+ spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


def deposit(config: CentralConfig, topics: Topics, n: int, slot: str, seq: int = 1) -> None:
    """A site's deposit event, through ingest (as the service would commit it)."""
    store = SqliteStore(config.store.path)
    log = SiteEvents("L0001", seq=seq - 1)
    event = log.deposit(label(n), slot)
    Ingest(store, topics, EventEffects(config.pickup), config.ingest).commit(
        [Delivery(topics.site("L0001", SiteChannel.EVENTS), encode(event))], time.time()
    )
    store.close()


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_import_announces_places_and_assigns_a_manifest(
    tmp_path: Path,
    config: CentralConfig,
    lockernet: Run,
    suffix: str,
) -> None:
    manifest = tmp_path / f"manifest{suffix}"
    write_manifest(
        [
            announcement(1, preferred_site="L0001"),
            announcement(2, preferred_mode="home"),
            announcement(3, size="XL"),  # fits no locker here: a collection point takes it
        ],
        manifest,
    )
    code, out, err = lockernet("parcels", "import", str(manifest))
    assert code == 0, err
    assert "announced 3 parcel(s)" in out
    rows = table_rows(out)
    assert ["lockers", "1"] in rows and ["collection points", "1"] in rows
    assert ["home delivery", "1"] in rows
    assert "placed 3; couriers assigned 3, without a courier 0" in out  # K1, K2 serve each
    store = SqliteStore(config.store.path)
    with store.transaction() as session:
        one = session.get_parcel(label(1))
        assert one is not None and (one.state, one.site) == ("assigned", "L0001")
        assert one.courier in {"K1", "K2"}
        assert session.get_parcel(label(3)).site == "C0001"  # type: ignore[union-attr]
        [task] = [t for t in session.open_tasks("send_command") if t.label == label(1)]
        assert '"type":"reserve_slot"' in task.payload
    code, out, _ = lockernet("parcels", "import", str(manifest))
    assert code == 0 and "announced 0 parcel(s); 3 already known" in out


def test_an_import_is_logged_once_with_its_counts_and_the_operator(
    tmp_path: Path, config: CentralConfig, lockernet: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="central.parcels.imports")
    manifest = tmp_path / "wave-7.csv"
    write_manifest([announcement(1), announcement(2)], manifest)
    assert lockernet("parcels", "import", str(manifest))[0] == 0
    assert lockernet("parcels", "import", str(manifest))[0] == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "central.parcels.imports"]
    me = getpass.getuser()
    assert lines == [
        f"manifest from operator {me} (wave-7.csv): 2 new, 0 already known, 2 placed",
        f"manifest from operator {me} (wave-7.csv): 0 new, 2 already known, 0 placed",
    ]


def test_a_bad_manifest_is_refused_naming_the_row_and_nothing_is_imported(
    tmp_path: Path, config: CentralConfig, lockernet: Run
) -> None:
    manifest = tmp_path / "manifest.csv"
    write_manifest([announcement(1), announcement(2)], manifest)
    text = manifest.read_text().replace(label(2), "RR000000021CN")  # a wrong check digit
    manifest.write_text(text)
    code, _, err = lockernet("parcels", "import", str(manifest))
    assert code == 2
    assert "label" in err and "check digit" in err
    with SqliteStore(config.store.path).transaction() as session:
        assert session.get_parcel(label(1)) is None


def test_tracking_shows_the_timeline_and_never_the_consumers_contact(
    tmp_path: Path,
    config: CentralConfig,
    topics: Topics,
    lockernet: Run,
) -> None:
    manifest = tmp_path / "manifest.json"
    write_manifest([announcement(1, preferred_site="L0001")], manifest)
    lockernet("parcels", "import", str(manifest))
    deposit(config, topics, 1, "A")

    code, out, _ = lockernet("track", label(1).lower())
    assert code == 0
    assert f"parcel {label(1)}: ready_for_pickup" in out
    steps = {row[1]: row[2:] for row in table_rows(out) if row[0].endswith(" SGT")}
    assert list(steps) == ["announce", "assign", "deposit"]
    assert steps["deposit"][:2] == ["ready_for_pickup", "site L0001 event 1"]  # state, source
    for secret in CONTACT:
        assert secret not in out
    assert "wei.ling" not in out.lower() and "tan wei" not in out.lower()

    assert lockernet("track", label(9))[0] == 2
    code, _, err = lockernet("track", "not-a-label")
    assert code == 2 and "S10" in err


def test_qr_reissues_a_code_and_the_old_one_is_revoked_at_the_site(
    tmp_path: Path,
    signer: TokenSigner,
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    lockernet: Run,
) -> None:
    central = start_central(signer=signer, clock=SystemClock())  # real time, as the CLI keeps
    site = make_site("L0001", now=time.time)
    site.state(snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "AB"]))
    manifest = tmp_path / "manifest.json"
    write_manifest([announcement(1, preferred_site="L0001")], manifest)
    lockernet("parcels", "import", str(manifest))
    site.send(SiteEvents("L0001").deposit(label(1), "A"))
    first = eventually(lambda: _codes(central, label(1)), what="the first code")

    out_png = tmp_path / "code.png"
    code, out, _ = lockernet("qr", "reissue", label(1), "-o", str(out_png))
    assert code == 0, out
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(out_png.read_bytes())))
    new = signer.verifier().pickup_code(barcode.text, site="L0001", now=time.time())
    codes = {c.code_id: c.status for c in _codes(central, label(1))}
    assert codes == {first[0].code_id: "revoked", new.code_id: "active"}
    [revoke] = eventually(lambda: site.commands_of("revoke_code"), what="RevokeCode at the site")
    assert getattr(revoke.body, "code_id", None) == first[0].code_id


def _codes(central: CentralService, label_id: str) -> list[CodeRecord]:
    with central.store.transaction() as session:
        return session.codes(label_id)


def test_qr_refuses_a_parcel_that_is_not_waiting(tmp_path: Path, lockernet: Run) -> None:
    manifest = tmp_path / "manifest.json"
    write_manifest([announcement(1)], manifest)
    lockernet("parcels", "import", str(manifest))
    code, _, err = lockernet("qr", "reissue", label(1), "-o", str(tmp_path / "x.png"))
    assert code == 2 and "not waiting for pickup" in err
    assert not (tmp_path / "x.png").exists()


def test_diag_prints_the_report_a_site_sends_back_over_mqtt(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    lockernet: Run,
) -> None:
    start_central(clock=SystemClock())

    def answer(command: Command) -> Reply | None:
        if command.body.type != "run_diagnostics":
            return None
        report = {"boards": [{"board": 0, "ok": True, "errors": 0}], "scanner": "ok"}
        return Reply(site="L0001", command_id=command.id, at=time.time(), ok=True, result=report)

    make_site("L0001", now=time.time, auto_reply=answer)
    code, out, err = lockernet("diag", "L0001", "--timeout", "10")
    assert code == 0, err
    assert "diagnostics of site L0001: ok" in out and "scanner: ok" in out

    code, _, err = lockernet("diag", "L0002", "--timeout", "0.5")
    assert code == 1 and "did not answer" in err
    assert lockernet("diag", "NOPE")[0] == 2


def test_fleet_and_alarms(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    lockernet: Run,
) -> None:
    central = start_central()
    site = make_site("L0001")
    site.status(True)
    site.state(
        snapshot(
            "L0001",
            [
                ("A", SizeClass.S, SlotState.OCCUPIED, label(1)),
                ("B", SizeClass.S, SlotState.FREE, None),
            ],
        )
    )
    site.send(SiteEvents("L0001").door_forced("B"))
    eventually(central.store_alarms, what="the forced-door alarm")

    code, out, _ = lockernet("fleet")
    assert code == 0
    assert "sites 3: online 1, offline 0, link unknown 0, never heard from 2" in out
    [l0001] = [row for row in table_rows(out) if row[0] == "L0001"]
    assert l0001[:6] == ["L0001", "locker", "online", "1/2", "1", "0"]  # occupied, free, resv

    code, out, _ = lockernet("alarms")
    assert code == 0
    [forced] = [row for row in table_rows(out) if "door_forced" in row]
    assert forced[2:5] == ["L0001", "door_forced", "B"]  # after the id and the time
    [alarm] = central.store_alarms()
    code, out, _ = lockernet("alarms", "--ack", str(alarm.id), "--by", "ops")
    assert code == 0 and "acknowledged; closed" in out
    assert "no open alarms" in lockernet("alarms")[1]
    assert lockernet("alarms", "--ack", "999")[0] == 2


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, public = tmp_path / "k.pem", tmp_path / "k.pub"
    assert main(["central", "keygen", "--out", str(key), "--public", str(public)]) == 0
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert TokenSigner.from_pem(key.read_bytes())
    assert main(["central", "keygen", "--out", str(key)]) == 2
    assert "never overwritten" in capsys.readouterr().err


def test_a_bad_config_is_refused_naming_the_key(tmp_path: Path, lockernet: Run) -> None:
    bad = tmp_path / "central.toml"
    bad.write_text("[ingest]\nflush_interval_s = -1\n")
    code, _, err = lockernet("fleet", config=bad)
    assert code == 2 and "ingest.flush_interval_s" in err


def test_config_helper_round_trips(tmp_path: Path, broker: PrivateBroker, topics: Topics) -> None:
    config = central_config(tmp_path, broker, topics)
    path = tmp_path / "c.toml"
    path.write_text(config_toml(config))
    from central.service.config import load_config

    assert load_config(path, environ={}) == config
