"""A private PostgreSQL server for the tests: its own folder, a free loopback port, no traces.

    with PrivatePostgres() as server:
        url = server.create_database()      # postgresql://postgres@127.0.0.1:PORT/t_...

`python -m tests.postgres` starts one in the foreground and prints its url (for running the
simulator or a benchmark by hand) until Ctrl-C.

Why not pytest-postgresql's executor (installed, and the issue's suggestion): it starts the
server with `pg_ctl start`, which detaches the postmaster from the test process, so a test
run killed with -9 leaves a server and its folder behind; and making it run as root means a
wrapper script standing in for pg_ctl, whose arguments the executor also formats into shell
strings. The server here is `postgres` itself, a child of the test process that receives
SIGKILL when its parent dies (the parent-death signal, set by `setpriv`), and its
backends exit when they see their postmaster gone.

initdb and postgres refuse to run as root. The tests run as root in CI, so then both run as
the unprivileged `postgres` user (Debian's postgresql package creates it) in a folder of
our own that user owns: pytest's tmp folders are root's, mode 0700.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from central.broker.launcher import free_port

# Debian installs each major version's server under here (postgresql-15: .../15/bin).
DEBIAN_ROOT = Path("/usr/lib/postgresql")
UNPRIVILEGED_USER = "postgres"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0  # initdb is done before this runs; a server is up in ~1 s
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it
# Server settings: room for several processes' pools.
SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "max_connections": "300",
    "log_min_messages": "warning",
}
# For throwaway test data: no durability (a benchmark asks for a durable server, to compare
# with SQLite's fsynced commits like for like).
NOT_DURABLE = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresError(RuntimeError):
    """The private PostgreSQL server could not be set up, started or stopped."""


def find_postgres_bin() -> Path | None:
    """The folder of the newest PostgreSQL server binaries (initdb, postgres), or None.

    Debian's /usr/lib/postgresql/<major>/bin first; else wherever pg_ctl on PATH leads.
    """
    candidates: list[Path] = []
    if DEBIAN_ROOT.is_dir():
        versions = [p for p in DEBIAN_ROOT.iterdir() if re.fullmatch(r"\d+(\.\d+)?", p.name)]
        versions.sort(key=lambda p: tuple(int(part) for part in p.name.split(".")))
        candidates += [p / "bin" for p in reversed(versions)]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is not None:
        candidates.append(Path(pg_ctl).resolve().parent)
    for folder in candidates:
        if (folder / "postgres").is_file() and (folder / "initdb").is_file():
            return folder
    return None


class PrivatePostgres:
    """A PostgreSQL server of our own: a temporary folder, a free port, trust auth.

    The unix socket is in the folder too (never /var/run/postgresql, the system server's).
    Stop it with `stop()` or by leaving the `with` block; it is killed if this process dies.
    """

    def __init__(self, bin_dir: Path | None = None, *, durable: bool = False) -> None:
        found = bin_dir or find_postgres_bin()
        if found is None:
            raise PostgresError(
                f"no PostgreSQL server binaries in {DEBIAN_ROOT}/*/bin or beside pg_ctl on "
                "PATH: apt-get install postgresql (bash .ci/setup does)"
            )
        self.bin_dir = found
        self.durable = durable
        self.host = HOST
        self.port = 0
        self.folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self._folder() / "data"

    @property
    def log_path(self) -> Path:
        return self._folder() / "postgres.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, dbname: str = "postgres") -> str:
        """A libpq url for `dbname` on this server, as the superuser (no password)."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def start(self) -> PrivatePostgres:
        """Create the folder, initdb, start the server and wait until it takes connections.

        Raises PostgresError naming the binary, the folder and host:port on any failure.
        """
        if self.running:
            return self
        self.folder = Path(tempfile.mkdtemp(prefix="lockernet-pg-"))
        if os.geteuid() == 0:
            user = self._unprivileged_user()
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._initdb()
        for attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self._serve()
                return self
            except PostgresError:
                if attempt + 1 == PORT_ATTEMPTS or "could not bind" not in self._log_tail():
                    self.stop()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Shut the server down (fast mode: sessions are ended) and remove its folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def create_database(self, name: str | None = None) -> str:
        """CREATE DATABASE `name` (a fresh unique one by default); returns its url."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        """DROP DATABASE (given its url or name), ending any session still connected."""
        name = url_or_name.rsplit("/", 1)[-1].split("?", 1)[0]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _folder(self) -> Path:
        if self.folder is None:
            raise PostgresError("the private PostgreSQL server is not started")
        return self.folder

    def _unprivileged_user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            raise PostgresError(
                f"running as root, and initdb and postgres refuse root: no user "
                f"{UNPRIVILEGED_USER!r} to run them as (Debian's postgresql package creates it)"
            ) from None

    def _as_server_user(self, argv: list[str]) -> list[str]:
        """`argv` run as the unprivileged user when we are root, and killed if we die."""
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise PostgresError(
                f"setpriv (util-linux) is not on PATH: it starts {argv[0]} so that it dies "
                "with the test process (and, as root, as the postgres user)"
            )
        prefix = [setpriv, "--pdeathsig", "KILL"]
        if os.geteuid() == 0:
            prefix += [
                f"--reuid={UNPRIVILEGED_USER}",
                f"--regid={UNPRIVILEGED_USER}",
                "--init-groups",
                "--reset-env",
            ]
        return [*prefix, *argv]

    def _initdb(self) -> None:
        initdb = str(self.bin_dir / "initdb")
        argv = [
            initdb,
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--no-sync",  # throwaway data: skip the minute of fsyncs on a slow disk
            "--no-locale",
            "--encoding=UTF8",
        ]
        done = subprocess.run(
            self._as_server_user(argv), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise PostgresError(
                f"{initdb} failed (exit {done.returncode}) in {self.folder}: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )

    def _serve(self) -> None:
        postgres = str(self.bin_dir / "postgres")
        argv = [postgres, "-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.folder)]
        settings = SERVER_SETTINGS if self.durable else {**SERVER_SETTINGS, **NOT_DURABLE}
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._as_server_user(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Ctrl-C in a terminal reaches us, not the server: we stop it ourselves.
                start_new_session=True,
            )
        where = f"{postgres} on {self.host}:{self.port}, folder {self.folder}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise PostgresError(f"{where} exited at start ({code}): {self._log_tail()}")
            with contextlib.suppress(psycopg.OperationalError):
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"{where} took no connection within {START_TIMEOUT_S:g} s: {self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace").strip()[-2000:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Start a server, print its url, and keep it until Ctrl-C (or SIGTERM)."""
    import argparse

    # No options; parsing still answers --help (and refuses a stray argument) instead of
    # starting a server someone then has to find and stop.
    argparse.ArgumentParser(
        prog="python -m tests.postgres",
        description="Start a private PostgreSQL server on a free loopback port in a temporary "
        "folder, print its url (database postgres, superuser postgres, no password) and keep "
        "it until Ctrl-C or SIGTERM; the folder is removed at the end.",
    ).parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's stop cleans up as Ctrl-C does
    with PrivatePostgres() as server:
        print(server.url(), flush=True)
        print(f"folder {server.folder}; Ctrl-C stops it", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while server.running:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
