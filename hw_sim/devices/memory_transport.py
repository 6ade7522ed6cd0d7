"""An in-memory serial link: the same bytes as over a pty, for thousands of sites in one
process, with no file descriptors.

The host end (`MemoryLink`, what the edge agent reads and writes) has this interface:

    link = port.open(baudrate=19200)   # raises PortUnavailable (an OSError) when unplugged
    link.write(data: bytes) -> None    # raises LinkClosed (an OSError) once the link is gone
    await link.read() -> bytes         # waits for the next chunk the device sent; raises
                                       # LinkClosed when the device end was unplugged or
                                       # the link closed, like a pyserial read on a pulled
                                       # cable
    link.baudrate = 9600               # like pyserial: a wrong speed hears nothing
    link.close() -> None               # idempotent

As with pyserial on a pty, bytes the device sent while no host end was open are lost, and a
fresh `open()` starts with nothing buffered.
"""

from __future__ import annotations

import asyncio
import errno

from hw_sim.devices.port import LinePort
from hw_sim.devices.reply_schedule import SerialDevice
from protocols.clock import Clock


class LinkClosed(OSError):
    """The link is gone: the device end was unplugged or this end was closed."""

    def __init__(self, message: str = "serial link closed (device unplugged?)") -> None:
        super().__init__(errno.EIO, message)


class PortUnavailable(OSError):
    """Opening a port whose device is unplugged: there is nothing to open."""

    def __init__(self, message: str = "no such serial port: the device is unplugged") -> None:
        super().__init__(errno.ENOENT, message)


class MemoryLink:
    """The host's end of an in-memory serial link."""

    def __init__(self, port: MemoryPort, baudrate: int) -> None:
        self._port = port
        self.baudrate = baudrate
        self._chunks: list[bytes] = []
        self._ready = asyncio.Event()
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise LinkClosed()
        self._port._from_host(bytes(data))

    async def read(self) -> bytes:
        while not self._chunks:
            if self.closed:
                raise LinkClosed()
            self._ready.clear()
            await self._ready.wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._port._forget(self)

    def _deliver(self, data: bytes) -> None:
        self._chunks.append(data)
        self._ready.set()


class MemoryPort(LinePort):
    """The device's end of in-memory links: one host end open at a time, like a tty."""

    def __init__(self, device: SerialDevice, clock: Clock) -> None:
        self._link: MemoryLink | None = None
        self._plugged = True
        super().__init__(device, clock)

    @property
    def plugged(self) -> bool:
        return self._plugged

    def start(self) -> None:
        self._serve(asyncio.get_running_loop())

    def open(self, baudrate: int | None = None) -> MemoryLink:
        """A host end; `baudrate` defaults to the device's own speed."""
        if not self._plugged:
            raise PortUnavailable()
        if self._link is not None:
            self._link.close()
        self._link = MemoryLink(self, self.device.baud if baudrate is None else baudrate)
        return self._link

    def unplug(self) -> None:
        """Pull the cable: the open host end fails and nothing can be opened."""
        self._plugged = False
        if self._link is not None:
            self._link.close()

    def plug(self) -> None:
        self._plugged = True

    def _host_baud(self) -> int | None:
        return None if self._link is None else self._link.baudrate

    def _from_host(self, data: bytes) -> None:
        self._line.hear(data)

    def _emit(self, data: bytes) -> None:
        if self._link is None:
            self.stats.lost_bytes += len(data)
            return
        self.stats.bytes_to_host += len(data)
        self._link._deliver(data)

    def _forget(self, link: MemoryLink) -> None:
        if self._link is link:
            self._link = None
