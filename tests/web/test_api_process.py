"""`lockernet central api`: the app served alone, in a process of its own beside central."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from central.broker.launcher import free_port
from central.store.open import open_store
from central.web.auth import Role
from tests.eventually import eventually
from tests.web.conftest import LOGINS, PARCEL, add_logins, stock_web_store, web_config

STARTUP_S = 90.0
STOP_S = 5.0  # uvicorn would wait its 10 s for the live stream
LOCKERNET = [sys.executable, "-c", "from protocols.cli import main; raise SystemExit(main())"]


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "central.sqlite"}"\n'
        f'[keys]\nsigning_key = "{tmp_path / "key.pem"}"\n'
        f'[api]\nsession_secret_file = "{tmp_path / "session.key"}"\n'
    )
    subprocess.run(
        [*LOCKERNET, "central", "keygen", "--out", str(tmp_path / "key.pem")], check=True
    )
    store = open_store(web_config(tmp_path).store)
    stock_web_store(store)
    add_logins(store)
    store.close()
    return path


def test_the_api_process_serves_tracking_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [*LOCKERNET, "central", "api", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def tracked() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/track/{PARCEL}", timeout=5)
            except httpx.ConnectError:
                return None

        # A fresh interpreter imports FastAPI, pydantic and the store first: on a loaded
        # two-core machine that alone can take tens of seconds.
        answer = eventually(tracked, STARTUP_S, what="the API process to answer")
        assert answer.status_code == 200
        assert answer.json()["pickup_place"]["name"] == "Tampines Hub Locker"
        # /metrics beside central: the deployment's gauges, read from the store.
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        families = {f.name: f for f in text_string_to_metric_families(scraped)}
        assert families["lockernet_central_store_readable"].samples[0].value == 1
        assert families["lockernet_central_sites"].samples[0].value >= 1
        assert (secret := tmp_path / "session.key").exists()
        assert secret.stat().st_mode & 0o777 == 0o600
        # A console page's live stream stays open while the process is told to stop.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            name, password = LOGINS[Role.VIEWER]
            assert browser.post("/api/login", json={"name": name, "password": password}).is_success
            with browser.stream("GET", "/console/events") as live:
                first = next(live.iter_lines())
                assert first.startswith(("event:", "data:", "retry:", ":")), first
                process.terminate()
                # It ends the stream, then itself: no waiting out uvicorn's shutdown timeout.
                out, err = process.communicate(timeout=STOP_S)
    finally:
        if process.poll() is None:
            process.terminate()
            out, err = process.communicate(timeout=30)
    # uvicorn finishes the requests under way, then ends by the signal it was sent (as
    # systemd expects of a service stopped with SIGTERM).
    assert process.returncode == -signal.SIGTERM, err
    assert f"serving the operator API on http://127.0.0.1:{port}/api" in out


def test_the_api_process_names_a_port_in_use_and_exits_2(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                *LOCKERNET,
                "central",
                "api",
                "--config",
                str(config),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: api.listen 127.0.0.1:{port} is already in use (another central or program "
        "serves there): choose another port"
    )
