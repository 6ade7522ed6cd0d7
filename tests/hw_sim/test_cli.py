"""`lockernet hwsim` as a person or a script uses it: a process, a JSON line, ptys and a
control socket."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from tests.eventually import eventually
from tests.hw_sim.conftest import before_sentinel_on_port

pytestmark = pytest.mark.pty

LOCKERNET = [sys.executable, "-c", "import sys; from protocols.cli import main; sys.exit(main())"]
START_TIMEOUT_S = 20


class Running:
    def __init__(self, process: subprocess.Popen[str], ready: dict[str, Any]) -> None:
        self.process = process
        self.ready = ready
        self._control = socket.socket(socket.AF_UNIX)
        self._control.settimeout(5)
        self._control.connect(ready["control"])
        self._answers = self._control.makefile("rw", encoding="utf-8")

    def command(self, line: str) -> dict[str, Any]:
        self._answers.write(line + "\n")
        self._answers.flush()
        answer: dict[str, Any] = json.loads(self._answers.readline())
        return answer

    def stop(self) -> int:
        self._answers.close()
        self._control.close()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


def start(directory: Path, *options: str) -> Running:
    process = subprocess.Popen(
        [*LOCKERNET, "hwsim", "--dir", str(directory), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until ready; the process's own start-up
    assert line, process.stderr.read() if process.stderr else "no output"
    return Running(process, json.loads(line))


@pytest.fixture
def hwsim(tmp_path: Path) -> Iterator[Running]:
    running = start(tmp_path / "site", "--boards", "2")
    yield running
    if running.process.poll() is None:
        running.stop()


def test_first_line_names_the_devices_and_a_plain_serial_tool_works(hwsim: Running) -> None:
    ready = hwsim.ready
    assert {"locks", "scanner", "control"} <= ready.keys()
    assert ready["boards"] == [0, 1] and ready["locks_baud"] == 19200
    with serial.Serial(ready["locks"], 19200, timeout=0.5) as bus:
        bus.write(bytes.fromhex("02 10 30 03 45"))
        assert bus.read(9) == bytes.fromhex("02 10 35 FF FF 00 00 03 48")


def test_control_channel_places_parcels_closes_doors_and_scans(hwsim: Running) -> None:
    with serial.Serial(hwsim.ready["locks"], 19200, timeout=0.5) as bus:
        assert hwsim.command("place 0 2 RR123456785CN") == {
            "ok": False,
            "error": "door 0/2 is closed; nothing can go in",
        }
        bus.write(bytes.fromhex("02 01 31 03 37"))  # unlock board 0, lock 2
        bus.write(bytes.fromhex("02 00 30 03 35"))
        assert bus.read(9) == bytes.fromhex("02 00 35 FD FF 00 00 03 36")
        assert hwsim.command("place 0 2 RR123456785CN")["ok"]
        assert hwsim.command('{"cmd": "close", "board": 0, "slot": 2}') == {
            "ok": True,
            "door_open": False,
        }
        slot = hwsim.command("status")["status"]["boards"][0]["slots"][1]
        assert slot["occupied"] and not slot["door_open"]
        assert slot["contents"] == ["RR123456785CN"]
    with serial.Serial(hwsim.ready["scanner"], 9600, timeout=0.5) as scanner:
        assert hwsim.command("scan LNP:ABC") == {"ok": True, "scanned": "LNP:ABC"}
        assert scanner.read_until(b"\r") == b"LNP:ABC\r"


def test_control_channel_switches_faults_and_refuses_bad_commands(hwsim: Running) -> None:
    answer = hwsim.command("fault on no_reply board=1")
    assert answer == {"ok": True, "faults": [{"kind": "no_reply", "board": 1}]}
    with serial.Serial(hwsim.ready["locks"], 19200, timeout=0.3) as bus:
        bus.write(bytes.fromhex("02 10 30 03 45"))
        # Board 0's answer, asked for next, is the first thing on the line.
        all_locked_b0 = bytes.fromhex("02 00 35 FF FF 00 00 03 38")
        assert before_sentinel_on_port(bus, bytes.fromhex("02 00 30 03 35"), all_locked_b0) == b""
        assert hwsim.command('{"cmd": "fault", "on": false, "kind": "no_reply", "board": 1}')["ok"]
        bus.write(bytes.fromhex("02 10 30 03 45"))
        assert len(bus.read(9)) == 9
    for bad, reason in [
        ("fault on melt board=0", "unknown fault"),
        ("fault on lock_stuck board=0 slot=17", "1-16"),
        ("place 0 x P1", "whole number"),
        ("{not json", "not valid JSON"),
        ("dance", "unknown command"),
    ]:
        answer = hwsim.command(bad)
        assert answer["ok"] is False and reason in answer["error"], (bad, answer)
    assert hwsim.command("faults")["faults"] == []
    assert "status" in hwsim.command("help")["commands"]


def test_sigterm_stops_it_and_removes_its_paths(hwsim: Running) -> None:
    paths = [Path(hwsim.ready[name]) for name in ("locks", "scanner", "control")]
    assert all(p.exists() for p in paths)
    assert hwsim.stop() == 0
    assert not any(p.exists() or p.is_symlink() for p in paths)


def test_rs485_profile(tmp_path: Path) -> None:
    running = start(tmp_path, "--profile", "rs485-8a", "--boards", "2", "--channels", "16")
    try:
        assert running.ready["boards"] == [1, 2] and running.ready["locks_baud"] == 9600
        with serial.Serial(running.ready["locks"], 9600, timeout=0.5) as bus:
            bus.write(bytes.fromhex("80 02 00 33 B1"))
            assert bus.read(7) == bytes.fromhex("80 02 00 00 00 33 B1")
    finally:
        assert running.stop() == 0


def test_impossible_site_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*LOCKERNET, "hwsim", "--dir", str(tmp_path), "--boards", "11"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "1-10 boards" in result.stderr


def test_control_channel_plays_a_seeded_fault_plan(hwsim: Running) -> None:
    first = hwsim.command("plan 5 duration=60 gap=0.05 length=100 kinds=no_reply")
    again = hwsim.command("plan 5 duration=60 gap=0.05 length=100 kinds=no_reply")
    assert first["ok"] and first["events"] == again["events"]  # the seed fixes the plan
    assert {e["kind"] for e in first["events"]} == {"no_reply"}
    eventually(lambda: hwsim.command("faults")["faults"], 5, "the plan to switch a fault on")
    with serial.Serial(hwsim.ready["locks"], 19200, timeout=0.3) as bus:
        on = {f["board"] for f in hwsim.command("faults")["faults"]}
        bus.write(bytes.fromhex("02 00 30 03 35") if 0 in on else bytes.fromhex("02 10 30 03 45"))
        assert bus.read(9) == b""
    assert hwsim.command("plan stop") == {"ok": True, "stopped": True}
    refused = hwsim.command("plan 1 kinds=melt")
    assert not refused["ok"] and "unknown fault" in refused["error"]
