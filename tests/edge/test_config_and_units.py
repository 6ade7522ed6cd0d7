"""The parts of the agent that need no hardware: configuration, the slot table, the store,
and the systemd unit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError, IllegalTransition
from edge.site.slots import TRANSITIONS, Trigger, can, mermaid, next_state
from edge.store.sqlite import Store
from protocols.messages import DoorOpened, DoorOpenReason, Event, SizeClass, SlotState, decode

REPO = Path(__file__).resolve().parents[2]

GOOD = """
site_id = "L0042"
central_public_key = "central.pub"
state_dir = "{state}"
[broker]
host = "127.0.0.1"
[lock_bus]
port = "/dev/ttyUSB0"
boards = [0, 1]
[scanner]
port = "/dev/ttyACM0"
suffix = "CRLF"
[[slots]]
id = "A01"
board = 0
lock = 1
size = "M"
[[slots]]
id = "B16"
board = 1
lock = 16
size = "XL"
"""


def test_a_good_config_loads_with_environment_overrides(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(GOOD.format(state=tmp_path))
    config = load_config(path, environ={"LOCKERNET_EDGE__BROKER__PORT": "8883"})
    assert config.site_id == "L0042"
    assert config.broker.port == 8883
    assert config.lock_bus is not None and config.lock_bus.baud_rate == 19200
    assert config.central_public_key == tmp_path / "central.pub"  # relative to the file
    assert [s.id for s in config.slots] == ["A01", "B16"]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nbaud = "fast"'), "lock_bus.baud"),
        (('id = "B16"', 'id = "A01"'), "slots"),  # duplicate slot id
        (("lock = 16", "lock = 17"), "slot B16 is on no board/lock"),
        (('site_id = "L0042"', 'site_id = "L/0042"'), "site_id"),
        (('size = "XL"', 'size = "XXL"'), "slots.1.size"),
        (('host = "127.0.0.1"', 'host = "127.0.0.1"\nhots = 1'), "broker.hots"),
        (("boards = [0, 1]", "boards = [0]"), "slot B16 is on no board/lock"),
    ],
)
def test_a_bad_config_names_the_key_and_the_problem(tmp_path, change, names):
    path = tmp_path / "site.toml"
    path.write_text(GOOD.format(state=tmp_path).replace(*change))
    with pytest.raises(ConfigError, match=re.escape(names)):
        load_config(path, environ={})


def test_a_bad_environment_override_is_refused_like_a_bad_file(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(GOOD.format(state=tmp_path))
    with pytest.raises(ConfigError, match=r"broker\.port"):
        load_config(path, environ={"LOCKERNET_EDGE__BROKER__PORT": "99999"})


def test_any_key_at_any_depth_is_overridden_by_the_environment(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(GOOD.format(state=tmp_path))
    config = load_config(
        path,
        environ={
            # The variable the systemd unit sets (systemd/lockernet-edge.service): a top key.
            "LOCKERNET_EDGE__STATE_DIR": "/var/lib/lockernet",
            "LOCKERNET_EDGE__LOCK_BUS__POLL_INTERVAL_S": "0.25",
            "LOCKERNET_EDGE__TIMING__HEARTBEAT_INTERVAL_S": "20",
            "LOCKERNET_EDGE__LOCK_BUS__BOARDS": "[0, 1, 2]",
        },
    )
    assert config.state_dir == Path("/var/lib/lockernet")
    assert config.lock_bus is not None and config.lock_bus.poll_interval_s == 0.25
    assert config.lock_bus.port == "/dev/ttyUSB0"  # the rest of the section is the file's
    assert config.lock_bus.boards == [0, 1, 2]
    assert config.timing.heartbeat_interval_s == 20


@pytest.mark.parametrize(
    ("extra", "environ", "names"),
    [
        # Keys that were once parsed and never read are unknown now, not silently ignored.
        ("[timing]\nunlock_confirm_delay_s = 0\n", {}, "timing.unlock_confirm_delay_s: unknown"),
        ("[timing]\nwatchdog_s = 10\n", {}, "timing.watchdog_s: unknown key"),
        ("[sizes.M]\nwidth_cm = 40\n", {}, "sizes: unknown key"),
        ("", {"LOCKERNET_EDGE__TIMING__LOCKOUT": "5"}, "timing has no setting 'lockout'"),
        ("", {"LOCKERNET_EDGE__SITEID": "L1"}, "LOCKERNET_EDGE__SITEID: edge has no setting"),
    ],
)
def test_an_unknown_key_is_refused_naming_it(tmp_path, extra, environ, names):
    path = tmp_path / "site.toml"
    path.write_text(GOOD.format(state=tmp_path) + extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    assert names in str(caught.value)


def test_a_bad_value_names_the_file_or_the_variable_that_set_it(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(
        GOOD.format(state=tmp_path).replace("boards = [0, 1]", "boards = [0, 1]\nretries = 0")
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"LOCKERNET_EDGE__TIMING__LOCKOUT_S": "-1"})
    message = str(caught.value)
    assert str(path) in message
    assert "lock_bus.retries:" in message
    assert (
        "timing.lockout_s:" in message and "(set by LOCKERNET_EDGE__TIMING__LOCKOUT_S)" in message
    )


def test_not_toml_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("site_id = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})


def test_edge_run_with_a_bad_config_stops_with_the_error(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(GOOD.format(state=tmp_path).replace('size = "XL"', 'size = "huge"'))
    result = subprocess.run(
        [sys.executable, "-m", "protocols.cli", "edge", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "slots.1.size" in result.stderr


# ------------------------------------------------------------------------ the slot table


def test_the_slot_table_moves_a_parcel_through_a_locker_and_refuses_the_rest():
    state = SlotState.FREE
    for trigger in (
        Trigger.RESERVE,
        Trigger.OPEN_FOR_DEPOSIT,
        Trigger.CLOSED_OCCUPIED,
        Trigger.OPEN_FOR_PICKUP,
        Trigger.CLOSED_EMPTY,
    ):
        state = next_state(state, trigger)
    assert state is SlotState.FREE
    with pytest.raises(IllegalTransition, match="a slot that is free cannot open_for_pickup"):
        next_state(SlotState.FREE, Trigger.OPEN_FOR_PICKUP)
    # A door that is open for someone cannot be taken out of service under them.
    assert not can(SlotState.OPEN_FOR_PICKUP, Trigger.TAKE_OUT_OF_SERVICE)
    # Every state in the table is reachable from "free".
    reached, frontier = {SlotState.FREE}, [SlotState.FREE]
    while frontier:
        current = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is current and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(SlotState)
    assert "free --> reserved: reserve" in mermaid()


# ------------------------------------------------------------------------------ the store


def test_the_outbox_sequence_never_repeats_and_survives_reopening(tmp_path):
    path = tmp_path / "site.sqlite3"
    store = Store(path, "L0001")
    store.ensure_slots([("A01", SizeClass.M)], 1.0)
    with store.transaction() as tx:
        for _ in range(3):
            tx.emit(DoorOpened(slot="A01", reason=DoorOpenReason.REMOTE), 2.0)
    store.acknowledge([1, 2, 3], 3.0)
    store.prune(before=10.0)  # acked rows go, the sequence does not restart
    store.close()
    store = Store(path, "L0001")
    with store.transaction() as tx:
        event = tx.emit(DoorOpened(slot="A01", reason=DoorOpenReason.REMOTE), 4.0)
    assert event.seq == 4
    [row] = store.pending()
    assert decode(Event, row.message) == event


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "site.sqlite3", "L0001")
    store.ensure_slots([("A01", SizeClass.M)], 1.0)
    with pytest.raises(IllegalTransition), store.transaction() as tx:
        tx.emit(DoorOpened(slot="A01", reason=DoorOpenReason.REMOTE), 2.0)
        tx.move("A01", Trigger.OPEN_FOR_PICKUP, 2.0)  # illegal from free
    assert store.pending() == []
    assert store.read().slot("A01").state is SlotState.FREE


def test_a_store_from_a_newer_agent_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "site.sqlite3"
    Store(path, "L0001").close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    from edge.store.sqlite import StoreError

    with pytest.raises(StoreError, match="newer than this agent"):
        Store(path, "L0001")


# ----------------------------------------------------------------------------- systemd


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    unit = (REPO / "systemd" / "lockernet-edge.service").read_text()
    lockernet = Path(sys.executable).with_name("lockernet")
    assert "ExecStart=/usr/bin/lockernet edge run" in unit
    copy = tmp_path / "lockernet-edge.service"
    copy.write_text(unit.replace("/usr/bin/lockernet", str(lockernet)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "lockernet-edge.service" not in result.stderr, result.stderr
