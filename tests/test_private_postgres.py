"""The tests' private PostgreSQL server (tests/postgres.py): it starts where it says, leaves
nothing behind when stopped or when the test process is killed, and says what failed."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.eventually import eventually
from tests.postgres import PostgresError, PrivatePostgres, find_postgres_bin

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(find_postgres_bin() is None, reason="no PostgreSQL server binaries"),
]
REPO = Path(__file__).resolve().parent.parent


def postmaster_pid(url: str) -> int:
    """The server's main process, from the pid file in its data folder."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    assert row is not None
    return int((Path(row[0]) / "postmaster.pid").read_text().split()[0])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone too: it only waits for its parent to collect it.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"


def test_a_fresh_database_per_test_is_empty_and_not_the_servers_own(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT current_database(), (SELECT count(*) FROM pg_tables "
            "WHERE schemaname = 'public'), inet_server_addr()::text"
        ).fetchone()
    assert row is not None
    name, tables, address = row
    assert name.startswith("t_") and tables == 0
    assert address.startswith("127.0.0.1")  # loopback, never the machine's own 5432


def test_the_server_runs_unprivileged_and_stop_leaves_nothing(tmp_path: Path) -> None:
    server = PrivatePostgres().start()
    folder = server.folder
    assert folder is not None and folder.is_dir()
    pid = postmaster_pid(server.url())
    if os.geteuid() == 0:  # initdb and postgres refuse root: they run as the postgres user
        status = Path(f"/proc/{pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid) == pwd.getpwnam("postgres").pw_uid
    url = server.create_database("named_one")
    assert url == server.url("named_one")
    server.drop_database(url)
    server.stop()
    assert gone(pid)
    assert not folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


@pytest.fixture
def foreground() -> Iterator[subprocess.Popen[str]]:
    """`python -m tests.postgres`, as a developer runs it; killed at the end if still up."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.postgres"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def test_a_killed_test_process_leaves_no_server_behind(
    foreground: subprocess.Popen[str],
) -> None:
    assert foreground.stdout is not None and foreground.stderr is not None
    url = foreground.stdout.readline().strip()
    assert url.startswith("postgresql://postgres@127.0.0.1:"), foreground.stderr.read()
    folder = Path(foreground.stderr.readline().split()[1].rstrip(";"))
    pid = postmaster_pid(url)
    try:
        foreground.kill()  # -9: no clean-up of its own runs
        foreground.wait()
        eventually(lambda: gone(pid), what="the server to die with its parent")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a -9 leaves the folder; the server is gone


def fake_server(exit_message: str) -> Path:
    """A bin folder whose initdb succeeds and whose postgres fails at once, readable by the
    postgres user (pytest's own tmp folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="lockernet-fake-pg-"))
    folder.chmod(0o755)
    (folder / "initdb").write_text("#!/bin/sh\nexit 0\n")
    (folder / "postgres").write_text(f"#!/bin/sh\necho '{exit_message}'\nexit 1\n")
    for name in ("initdb", "postgres"):
        (folder / name).chmod(0o755)
    return folder


def test_a_server_that_cannot_start_names_its_binary_folder_and_port() -> None:
    bin_dir = fake_server("FATAL:  the fake server refuses")
    server = PrivatePostgres(bin_dir)
    try:
        with pytest.raises(PostgresError) as failure:
            server.start()
    finally:
        shutil.rmtree(bin_dir)
    message = str(failure.value)
    assert str(bin_dir / "postgres") in message
    assert f"127.0.0.1:{server.port}" in message and "lockernet-pg-" in message
    assert "the fake server refuses" in message
    assert server.folder is None  # its folder removed on the way out
