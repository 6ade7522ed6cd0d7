"""`lockernet sim --console`: the operator console served on the running day, as a new user
starts it: the URL, a login and its password printed at the start, the network's sites on
the map, live updates while the day runs, and nothing left listening once the day ends."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from central.broker.launcher import free_port
from tests.eventually import eventually

pytestmark = pytest.mark.broker

LOCKERNET = [sys.executable, "-c", "import sys; from protocols.cli import main; sys.exit(main())"]
CONSOLE_LINE = re.compile(r"console: (\S+)\s+user (\S+)\s+password (\S+)")
# A tiny day: six sites, a few dozen parcels, about 25 seconds of wall time.
DAY = ["--lockers", "3", "--counters", "3", "--couriers", "2", "--parcels", "40"]
DAY += ["--minutes", "0.4", "--pty-sites", "0", "--no-faults"]


class Sim:
    """A `lockernet sim` process whose stderr lines are collected as they come."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [*LOCKERNET, "sim", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)


@pytest.fixture
def sim_with_console() -> Iterator[tuple[Sim, int]]:
    port = free_port()
    sim = Sim(*DAY, "--console", f"127.0.0.1:{port}")
    try:
        yield sim, port
    finally:
        sim.stop()


def login(client: httpx.Client, user: str, password: str) -> httpx.Response:
    form = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    return client.post(
        "/console/login",
        data={"name": user, "password": password, "csrf": csrf.group(1), "next": "/console/"},
    )


def test_the_day_is_watched_live_in_the_console_with_the_printed_login(
    sim_with_console: tuple[Sim, int],
) -> None:
    sim, port = sim_with_console
    found = eventually(
        lambda: next((m for m in map(CONSOLE_LINE.search, sim.lines) if m), None),
        60,
        "the console's URL and login on stderr",
    )
    url, user, password = found.groups()
    assert url == f"http://127.0.0.1:{port}/console/"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as client:
        # Not logged in: the login form.
        assert client.get("/console/").url.path == "/console/login"
        assert "Wrong name or password" in login(client, user, "guessed").text
        island = login(client, user, password)
        assert island.url.path == "/console/"
        assert island.text.count('class="dot ') == 6  # every site of the day on the map
        # Live: events keep coming while couriers and consumers move parcels.
        occupied: set[str] = set()
        with client.stream("GET", "/console/events?site=L0001", timeout=30) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line.removeprefix("data: "))
                occupied |= {
                    slot for slot, (css, *_) in event.get("slots", {}).items() if css == "occupied"
                }
                if occupied:
                    break
        assert occupied, "no slot of L0001 was seen occupied"
    assert sim.process.wait(120) == 0, "".join(sim.lines[-20:])
    # The console stopped with the day: nothing listens on its port any more.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_console_port_in_use_is_refused_before_the_day_is_built() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        sim = Sim(*DAY, "--console", f"127.0.0.1:{port}")
        assert sim.process.wait(60) == 2
    sim._reader.join(10)
    text = "".join(sim.lines)
    assert f"127.0.0.1:{port} is already in use" in text, text
    assert "building" not in text  # nothing was started
