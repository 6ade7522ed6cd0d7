"""Each central process's row in the store, and `lockernet central status` showing who is
alive, who stopped in order and who went silent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from central.operator.processes import (
    ALIVE_MIN_S,
    ProcessState,
    format_processes,
    process_lines,
)
from central.service.config import CentralConfig
from central.service.service import CentralService
from central.store import ProcessRecord, SqliteStore
from protocols.cli import main
from protocols.clock import ManualClock, SystemClock
from protocols.messages import CentralStatus
from tests.central.central_rig import Site, SiteEvents, config_toml, label
from tests.eventually import eventually

NOW = 1_800_000_000.0


def row(process: str, heard_ago: float, stopped: bool = False) -> ProcessRecord:
    return ProcessRecord(
        process=process,
        client_id=process.split("/", maxsplit=1)[0],
        host="central-host",
        pid=4242,
        started_at=NOW - 3600,
        heard_at=NOW - heard_ago,
        stopped_at=NOW - heard_ago if stopped else None,
        brokers=("main", "east") if not stopped else (),
        received=120,
        applied=118,
    )


def test_a_process_is_alive_stopped_or_gone_by_its_row(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    with store.transaction() as session:
        session.save_process(row("central-a/1", heard_ago=2))
        session.save_process(row("central-b/1", heard_ago=ALIVE_MIN_S + 1))  # killed -9
        session.save_process(row("central-c/1", heard_ago=500, stopped=True))
        session.save_process(row("central-b/2", heard_ago=1))  # b restarted: a row of its own
        # Written again: one row per process, the latest write wins.
        session.save_process(row("central-a/1", heard_ago=0.5))
    with store.transaction() as session:
        lines = process_lines(session, NOW, tick_interval_s=1.0)
    store.close()
    states = {line.process: line.state for line in lines}
    assert states == {
        "central-a/1": ProcessState.ALIVE,
        "central-b/1": ProcessState.GONE,
        "central-b/2": ProcessState.ALIVE,
        "central-c/1": ProcessState.STOPPED,
    }
    assert [line.process for line in lines][:2] == ["central-a/1", "central-b/2"]  # newest first
    a = next(line for line in lines if line.process == "central-a/1")
    assert a.brokers == ("main", "east") and (a.received, a.applied) == (120, 118)
    assert a.silent_s == pytest.approx(0.5)
    # A slow tick interval stretches the limit: three ticks of 10 s.
    with SqliteStore(tmp_path / "central.sqlite").transaction() as session:
        slow = process_lines(session, NOW, tick_interval_s=10.0)
    assert {line.process: line.state for line in slow}["central-b/1"] is ProcessState.ALIVE
    text = format_processes(lines, CentralStatus(online=True, boot_id="b00f", at=NOW))
    assert "2 of 4 process(es) alive" in text
    assert "retained central status: online (boot b00f" in text
    assert "main, east" in text
    assert "no central process" in format_processes([], None, "not asked")


@pytest.mark.broker
def test_a_running_process_writes_its_row_and_status_shows_it(
    tmp_path: Path,
    config: CentralConfig,
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = SystemClock()
    (tmp_path / "central-key.pem").write_bytes(b"")  # `central status` never signs
    config_path = tmp_path / "central.toml"
    config_path.write_text(config_toml(config))
    central = start_central(clock=clock)
    site = make_site("L0001")
    log = SiteEvents("L0001")
    site.send(log.deposit(label(1), "A"), log.deposit(label(2), "B"))

    def row_of() -> ProcessRecord | None:
        with SqliteStore(config.store.path).transaction() as session:
            rows = [p for p in session.list_processes() if p.process.endswith(central.boot_id)]
        return rows[0] if rows else None

    # Written at start, then by every tick with the ingest's totals and its broker.
    central.tick()
    eventually(lambda: central.ingest.totals["received"] == 2, what="both events committed")
    central.tick()
    written = row_of()
    assert written is not None
    assert written.client_id == config.broker_list[0].client_id
    assert written.brokers == ("main",) and written.stopped_at is None
    assert (written.received, written.applied) == (2, 2)
    # Central retains its status on the broker when it connects (and its will says offline).
    assert main(["central", "status", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert central.boot_id in out and "alive" in out
    assert "1 of 1 process(es) alive" in out
    assert f"retained central status: online (boot {central.boot_id}" in out

    central.stop()
    stopped = row_of()
    assert stopped is not None and stopped.stopped_at is not None and stopped.brokers == ()
    assert main(["central", "status", "--config", str(config_path), "--broker-wait", "0"]) == 0
    out = capsys.readouterr().out
    assert "stopped" in out and "0 of 1 process(es) alive" in out


def test_a_process_silent_past_three_ticks_is_gone(tmp_path: Path) -> None:
    """The limit is the longer of three ticks and ALIVE_MIN_S, judged on central's clock."""
    clock = ManualClock(start=NOW)
    store = SqliteStore(tmp_path / "central.sqlite")
    with store.transaction() as session:
        session.save_process(row("central-a/1", heard_ago=0))
    for ahead, state in ((ALIVE_MIN_S, ProcessState.ALIVE), (0.1, ProcessState.GONE)):
        clock.advance(ahead)
        with store.transaction() as session:
            (line,) = process_lines(session, clock.now(), tick_interval_s=1.0)
        assert line.state is state, (clock.now() - NOW, line)
    store.close()
