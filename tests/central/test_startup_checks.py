"""`lockernet central run` started as an operator starts it, with what operators get wrong: a
TLS file or the signing key missing (one line naming the key and the file, exit at once), a
broker port nothing listens on (a line naming host:port and the reason at once, then again
as the retries back off)."""

from __future__ import annotations

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


def write_config(tmp_path: Path, port: int, broker_lines: str = "", key: bool = True) -> Path:
    key_file = tmp_path / "central-signing-key.pem"
    if key:
        key_file.write_bytes(TokenSigner.generate().private_pem())
    config = tmp_path / "central.toml"
    config.write_text(
        f'[broker]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "startup-check"\n'
        f"{broker_lines}"
        f'[store]\npath = "{tmp_path / "central.sqlite"}"\n'
        f'[keys]\nsigning_key = "{key_file}"\n'
    )
    return config


def run_to_exit(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LOCKERNET), "central", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=EXIT_AT_ONCE_S,
        check=False,
    )


def test_a_missing_ca_file_is_named_with_its_key_and_nothing_starts(tmp_path: Path) -> None:
    missing = tmp_path / "pki" / "ca.pem"
    config = write_config(tmp_path, free_port(), f'ca_file = "{missing}"\n')
    result = run_to_exit(config)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "broker.ca_file" in line and str(missing) in line and "does not exist" in line
    assert not (tmp_path / "central.sqlite").exists()  # nothing was started


def test_a_missing_client_key_is_named_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("a CA\n")
    (tmp_path / "central.pem").write_text("a certificate\n")
    missing = tmp_path / "central.key"
    tls = (
        f'ca_file = "{tmp_path / "ca.pem"}"\ncert_file = "{tmp_path / "central.pem"}"\n'
        f'key_file = "{missing}"\n'
    )
    result = run_to_exit(write_config(tmp_path, free_port(), tls))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "broker.key_file" in line and str(missing) in line


def test_a_missing_signing_key_is_named_with_its_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), key=False)
    result = run_to_exit(config)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "keys.signing_key" in line and str(tmp_path / "central-signing-key.pem") in line


class Stderr:
    """A running process's stderr, line by line, as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, fragment: str) -> tuple[float, str] | None:
        return next((each for each in list(self.lines) if fragment in each[1]), None)


@pytest.fixture
def central_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], float, int]]:
    port = free_port()  # nothing listens there
    config = write_config(tmp_path, port)
    started = time.monotonic()
    process = subprocess.Popen(
        [str(LOCKERNET), "central", "run", "--config", str(config)],
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
    central_process: tuple[subprocess.Popen[str], float, int],
) -> None:
    process, started, port = central_process
    stderr = Stderr(process)
    where = f"127.0.0.1:{port}"
    at, line = eventually(
        lambda: stderr.first(f"cannot reach broker main ({where})"),
        what=f"a line naming {where}",
    )
    assert "ConnectionRefusedError" in line and "retrying" in line
    assert stderr.first(f"connecting to broker main ({where})") is not None
    # Said at the first attempt: within the start-up's own time (the interpreter and its
    # imports, a second or so), not after the 20 s the keepalive or the alarm would take.
    assert at - started < 10.0
    again, repeated = eventually(
        lambda: stderr.first("still unreachable after 2 attempts"),
        what="the second failed attempt said again",
    )
    assert where in repeated and again > at
    assert process.poll() is None  # it keeps trying: the broker may come up
