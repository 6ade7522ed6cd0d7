"""docs/operator.md, run as written: a new operator brings up a site over TLS and a parcel is
deposited with an issued badge and picked up with its code.

The test runs the page's ```sh blocks marked `<!-- walkthrough: NAME -->`, in order, in one
bash (as a person in one terminal), from the repository's root. It changes only what the page
says to choose: `DIR` (a temporary folder) and `TLS_PORT` (a free port). What the page starts
in the background (Mosquitto, central, hwsim, the agent) runs in the shell's process group,
which is stopped at the end. Between blocks it waits for what the page tells the reader to
see, through the same commands and hwsim's documented control socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.broker.launcher import free_port
from tests.eventually import eventually

pytestmark = [pytest.mark.broker, pytest.mark.pty]

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "operator.md"
BLOCK = re.compile(r"<!-- walkthrough: ([a-z-]+) -->\s*```sh\n(.*?)```", re.DOTALL)
LABEL = "RR123456785SG"
STEP_TIMEOUT_S = 30.0  # a block of a few commands; each CLI start is seconds on a busy CI
# How often an operator command is run to see a change: each is a process of its own.
POLL_S = 0.5
STOP_TIMEOUT_S = 10.0


def walkthrough_blocks() -> list[tuple[str, str]]:
    """(name, shell text) of every marked block of the page, in order."""
    return BLOCK.findall(PAGE.read_text())


def with_choices(text: str, directory: Path, tls_port: int) -> str:
    """The settings block with the reader's two choices made for this test: nothing else."""
    text, dirs = re.subn(r'export DIR="[^"]*"', f'export DIR="{directory}"', text)
    text, ports = re.subn(r"export TLS_PORT=\d+", f"export TLS_PORT={tls_port}", text)
    assert (dirs, ports) == (1, 1), "the settings block no longer sets DIR and TLS_PORT"
    return text


class Terminal:
    """One bash reading the page's blocks from stdin, as a person types them."""

    def __init__(self, directory: Path) -> None:
        self.log_path = directory.parent / f"{directory.name}-terminal.log"
        self.marks = directory.parent / f"{directory.name}-marks"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKERNET_")}
        self.shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            text=True,
            start_new_session=True,  # its own process group: what it starts, stops with it
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def run(self, name: str, text: str) -> str:
        """Type a block; wait until its last command returned; return what it printed."""
        assert self.shell.stdin is not None
        before = len(self.output())
        # A failing command ends the shell (errexit), and the wait below says so.
        self.shell.stdin.write(f"set -eo pipefail\n{text}\necho {name} >> '{self.marks}'\n")
        self.shell.stdin.flush()

        def finished() -> bool:
            if self.marks.exists() and name in self.marks.read_text().split():
                return True
            assert self.shell.poll() is None, (
                f"block {name!r} failed (exit {self.shell.returncode}):\n{self.output()[-4000:]}"
            )
            return False

        started = time.monotonic()
        eventually(finished, STEP_TIMEOUT_S, f"block {name!r} to finish")
        print(f"[walkthrough] block {name}: {time.monotonic() - started:.1f} s")
        return self.output()[before:]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.shell.pid, signal.SIGTERM)
        try:
            self.shell.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.shell.pid, signal.SIGKILL)
            self.shell.wait()

        # The background jobs share the group: wait until none of them is left.
        def group_gone() -> bool:
            try:
                os.killpg(self.shell.pid, 0)
            except ProcessLookupError:
                return True
            return False

        try:
            eventually(group_gone, STOP_TIMEOUT_S, "the walkthrough's processes to stop")
        except AssertionError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.shell.pid, signal.SIGKILL)
        self._log.close()


def hardware(directory: Path, line: str) -> dict[str, Any]:
    """One command on hwsim's control socket (docs/hwsim.md), as socat would send it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(directory / "hw" / "control.sock"))
        sock.sendall(line.encode() + b"\n")
        answer = sock.makefile().readline()
    reply: dict[str, Any] = json.loads(answer)
    return reply


def ready_with_code(track: str) -> bool:
    """Whether `lockernet track` shows the parcel ready for pickup with a code issued."""
    return "ready_for_pickup" in track.splitlines()[0] and "pickup codes issued 1" in track


def door(directory: Path, board: int, slot: int) -> dict[str, Any]:
    status = hardware(directory, "status")["status"]
    found: dict[str, Any] = status["boards"][board]["slots"][slot - 1]
    return found


def lockernet(directory: Path, *args: str) -> str:
    """An operator command with the page's central.toml, as the reader's shell has it."""
    result = subprocess.run(
        [sys.executable, "-m", "protocols.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LOCKERNET_CENTRAL_CONFIG": str(directory / "central" / "central.toml")},
        timeout=30,
        check=False,
    )
    return result.stdout + result.stderr


@pytest.fixture
def trial() -> Iterator[Path]:
    # A short path: the agent's and hwsim's Unix sockets live under it (108 bytes at most).
    directory = Path(tempfile.mkdtemp(prefix="lockernet-trial-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        for leftover in directory.parent.glob(f"{directory.name}-*"):
            leftover.unlink()


def test_the_page_brings_up_a_site_over_tls_and_a_parcel_is_deposited_and_picked_up(
    trial: Path,
) -> None:
    assert shutil.which("socat"), "the page talks to hwsim with socat: apt-get install socat"
    blocks = dict(walkthrough_blocks())
    assert list(blocks) == [
        "settings",
        "pki",
        "broker",
        "central",
        "hardware",
        "site",
        "import",
        "courier-scans",
        "courier-deposits",
        "pickup-scan",
        "pickup-takes",
        "track",
    ]
    tls_port = free_port()
    terminal = Terminal(trial)
    try:
        terminal.run("settings", with_choices(blocks["settings"], trial, tls_port))
        terminal.run("pki", blocks["pki"])
        assert not (trial / "broker" / "ca.key").exists()

        terminal.run("broker", blocks["broker"])

        def broker_listens() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", tls_port)):
                return True
            return False

        eventually(broker_listens, what=f"the broker's TLS port {tls_port}")

        terminal.run("central", blocks["central"])
        eventually(
            lambda: "connected to broker main" in terminal.output(), what="central connected"
        )

        terminal.run("hardware", blocks["hardware"])
        eventually((trial / "hw" / "control.sock").exists, what="hwsim's control")

        terminal.run("site", blocks["site"])
        eventually(
            lambda: "site L0001 is heard on broker main" in terminal.output(),
            what="central hearing the site",
        )
        assert re.search(r"L0001\s+locker\s+online", lockernet(trial, "fleet"))
        # Over TLS only: the broker the page rendered has one listener, and it wants a
        # certificate of the operator's CA.
        conf = (trial / "broker" / "mosquitto.conf").read_text().splitlines()
        assert [line for line in conf if line.startswith("listener ")] == [
            f"listener {tls_port} 127.0.0.1"
        ]
        assert "require_certificate true" in conf

        imported = terminal.run("import", blocks["import"])
        assert "announced 1 parcel" in imported
        assert "L0001 slot A01" in imported

        terminal.run("courier-scans", blocks["courier-scans"])
        eventually(lambda: door(trial, 0, 1)["door_open"], what="A01's door open for the courier")
        assert not door(trial, 0, 2)["door_open"]

        terminal.run("courier-deposits", blocks["courier-deposits"])
        # The code follows the deposit at central's next timer tick: the consumer (and the
        # page's next block) has it once `track` counts it, as the page says.
        eventually(
            lambda: ready_with_code(lockernet(trial, "track", LABEL)),
            what="the parcel ready for pickup with its code issued",
            interval=POLL_S,
        )
        assert door(trial, 0, 1)["contents"] == [LABEL]

        terminal.run("pickup-scan", blocks["pickup-scan"])
        eventually(lambda: door(trial, 0, 1)["door_open"], what="A01's door open for pickup")

        terminal.run("pickup-takes", blocks["pickup-takes"])
        eventually(
            lambda: "collected" in lockernet(trial, "track", LABEL).splitlines()[0],
            what="the parcel collected",
            interval=POLL_S,
        )
        assert door(trial, 0, 1)["contents"] == []

        shown = terminal.run("track", blocks["track"])
        assert f"parcel {LABEL}: collected" in shown
        assert "pick_up" in shown
    finally:
        terminal.stop()
        print(terminal.output())  # shown when the test fails: what the reader would have seen
