"""Start and stop a private Mosquitto on a loopback port with the project's configuration."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

SETTINGS_FILE = Path(__file__).with_name("lockernet.conf")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class BrokerError(RuntimeError):
    """The broker could not be started or stopped."""


def broker_settings_path() -> Path:
    """The shipped settings every lockernet broker uses."""
    return SETTINGS_FILE


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )
    if found is None:
        raise BrokerError("mosquitto is not installed: apt-get install mosquitto")
    return found


class PrivateBroker:
    """A Mosquitto of our own: its own port, data folder and log, the project's settings.

    Restartable on the same port and data folder, so tests can stop the broker mid-run and
    bring it back with its persisted sessions and queues.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        extra: str = "",
        config: str | None = None,
    ) -> None:
        """`config`, if given, is a complete mosquitto.conf used as it is (e.g. the rendered
        production configuration); `port` must then be one of its listeners."""
        self.data_dir = Path(data_dir)
        self.config = config
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra = extra
        self._process: subprocess.Popen[bytes] | None = None
        self.config_path = self.data_dir / "mosquitto.conf"
        self.log_path = self.data_dir / "mosquitto.log"

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            self.config_path.write_text(self.config)
            return self.config_path
        lines = [
            SETTINGS_FILE.read_text(),
            "# --- this instance",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence_location {self.data_dir}/",
            f"log_dest file {self.log_path}",
            # Run as root, Mosquitto drops to the "mosquitto" user, who cannot write our
            # private data folder: keep the invoking user instead.
            "user root" if os.geteuid() == 0 else "",
            self.extra,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self.running else None

    def start(self) -> None:
        if self.running:
            return
        self.write_config()
        self._process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
            [find_mosquitto(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise BrokerError(f"mosquitto exited at start: {err.strip()} {log.strip()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} in {START_TIMEOUT_S}s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker: SIGTERM saves its persistence file first; SIGKILL does not."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr:
            process.stderr.close()

    def kill(self) -> None:
        """Kill the broker (-9), as a crash or a power cut would: what it took since its last
        autosave is lost, its clients see their connections drop."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
