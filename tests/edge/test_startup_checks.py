"""`lockernet edge run` started as a technician starts it, with what gets wrong on a site: a
certificate, key or CA file missing (one line naming the key and the file, exit at once,
instead of running on and logging "No such file or directory"), and a broker port nothing
listens on (a line naming host:port and the reason at once, then again at each retry)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker.launcher import free_port
from protocols.tokens import TokenSigner
from tests.eventually import eventually

LOCKERNET = Path(sys.executable).with_name("lockernet")
# Exiting "at once": the interpreter and its imports, on a loaded machine, and nothing else.
EXIT_AT_ONCE_S = 20.0


def site_toml(tmp_path: Path, port: int, broker_lines: str = "", top: str = "") -> Path:
    """A staffed counter's site.toml (no lock bus, no scanner: nothing but the broker)."""
    key = tmp_path / "central.pub"
    key.write_bytes(TokenSigner.generate().verifier().public_pem())
    config = tmp_path / "site.toml"
    config.write_text(
        f'site_id = "C0001"\nkind = "counter"\nshelf_capacity = 3\n{top}'
        f'state_dir = "{tmp_path / "state"}"\ncentral_public_key = "{key}"\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {port}\n{broker_lines}'
    )
    return config


def run_to_exit(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LOCKERNET), "edge", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=EXIT_AT_ONCE_S,
        check=False,
    )


def test_a_missing_ca_file_is_named_with_its_key_and_the_agent_does_not_start(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "pki" / "ca.pem"
    result = run_to_exit(site_toml(tmp_path, free_port(), f'ca_file = "{missing}"\n'))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "broker.ca_file" in line and str(missing) in line and "does not exist" in line
    assert not (tmp_path / "state").exists()  # no store made, no lock taken


def test_a_missing_certificate_is_named_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("a CA\n")
    (tmp_path / "site.key").write_text("a key\n")
    missing = tmp_path / "site.pem"
    tls = (
        f'ca_file = "{tmp_path / "ca.pem"}"\ncert_file = "{missing}"\n'
        f'key_file = "{tmp_path / "site.key"}"\n'
    )
    result = run_to_exit(site_toml(tmp_path, free_port(), tls))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "broker.cert_file" in line and str(missing) in line


class JsonStderr:
    """A running process's stderr, each line parsed as the JSON object log_format = "json"
    promises (a line that is not one fails the test)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.records: list[tuple[float, dict[str, str]]] = []
        self.not_json: list[str] = []
        self._process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            try:
                self.records.append((time.monotonic(), json.loads(line)))
            except json.JSONDecodeError:
                self.not_json.append(line)

    def messages(self, fragment: str) -> list[tuple[float, str]]:
        return [(at, r["message"]) for at, r in list(self.records) if fragment in r["message"]]


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], float, int]]:
    port = free_port()  # nothing listens there
    config = site_toml(tmp_path, port, top='log_format = "json"\n')
    started = time.monotonic()
    process = subprocess.Popen(
        [str(LOCKERNET), "edge", "run", "--config", str(config)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process, started, port
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_wrong_broker_port_is_said_at_once_with_host_port_and_reason_then_again(
    agent_process: tuple[subprocess.Popen[str], float, int],
) -> None:
    process, started, port = agent_process
    stderr = JsonStderr(process)
    where = f"broker 127.0.0.1:{port} unreachable"
    [(first_at, first)] = eventually(
        lambda: stderr.messages(where)[:1], what=f"a line naming 127.0.0.1:{port}"
    )
    assert "ConnectionRefusedError" in first
    assert stderr.messages(f"connecting to broker 127.0.0.1:{port}")
    # Said at the first attempt: within the start-up's own time (the interpreter and its
    # imports), not after a keepalive or a connect timeout.
    assert first_at - started < 10.0
    second_at, _ = eventually(
        lambda: stderr.messages(where)[1:2], what="the next attempt, after the backoff"
    )[0]
    assert second_at > first_at
    assert process.poll() is None  # still trying: the broker may come up
    assert stderr.not_json == []  # log_format = "json": every line one JSON object
