"""A device on a real pseudo-terminal, for real serial code (pyserial) on the host side.

hardware.md §4: both ends go raw at once (or the simulator's writes echo back into its
input); the slave gets a stable path by a symlink; the speed the host set is read back with
termios on the slave and a host at another speed is neither heard nor answered; wire time is
kept by the shared DeviceLine. Unplugging closes the master: the host's next read fails,
as on a pulled cable, and the stable path disappears until the device is plugged back in
(on a new pty, behind the same path).

The simulator keeps its own descriptor of the slave open, so a host closing and reopening
the port does not hang the pty up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from pathlib import Path

from hw_sim.devices.port import LinePort
from hw_sim.devices.reply_schedule import SerialDevice
from protocols.clock import Clock

READ_CHUNK = 4096
_SPEEDS: dict[int, int] = {
    getattr(termios, f"B{rate}"): rate
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
    if hasattr(termios, f"B{rate}")
}
_ISPEED, _OSPEED = 4, 5  # indices in termios.tcgetattr's list


class PtyPort(LinePort):
    """One device behind one pty whose slave is reachable at `path`."""

    def __init__(self, device: SerialDevice, clock: Clock, path: Path) -> None:
        self.path = Path(path)
        self._master: int | None = None
        self._slave: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        super().__init__(device, clock)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def slave_name(self) -> str | None:
        return None if self._slave is None else os.ttyname(self._slave)

    def start(self) -> None:
        """Create the pty and begin serving (inside the running event loop)."""
        self._loop = asyncio.get_running_loop()
        self.plug()
        self._serve(self._loop)

    def plug(self) -> None:
        if self._master is not None:
            return
        assert self._loop is not None, "start() the port before plugging it in"
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        # Start at the device's own speed, so a tool that never sets one (cat, socat) works.
        attrs = termios.tcgetattr(slave)
        speed = next((k for k, v in _SPEEDS.items() if v == self.device.baud), attrs[_OSPEED])
        attrs[_ISPEED] = attrs[_OSPEED] = speed
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._loop.add_reader(master, self._readable)
        self._link_path(os.ttyname(slave))

    def _link_path(self, target: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(target)
        temporary.replace(self.path)  # atomic: the path never points nowhere while plugged

    def unplug(self) -> None:
        """Pull the cable: the host's next read fails and the path goes away."""
        master, slave = self._master, self._slave
        self._master = self._slave = None
        if master is not None:
            if self._loop is not None:
                self._loop.remove_reader(master)
            os.close(master)
        if slave is not None:
            os.close(slave)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _host_baud(self) -> int | None:
        if self._slave is None:
            return None
        attrs = termios.tcgetattr(self._slave)
        if attrs[_ISPEED] != attrs[_OSPEED]:
            return -1  # split speeds: no real board talks like that
        return _SPEEDS.get(attrs[_OSPEED], -1)

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no host has the slave open on some kernels: nothing to hear
        self._line.hear(data)

    def _emit(self, data: bytes) -> None:
        if self._master is None:
            self.stats.lost_bytes += len(data)
            return
        try:
            written = os.write(self._master, data)
        except OSError:
            written = 0  # the host is not reading: a UART would overrun the same way
        self.stats.bytes_to_host += written
        self.stats.lost_bytes += len(data) - written
