"""Byte links: the one thing a driver needs from a serial port, so it can run over a real
port (pyserial, on a Pi or a simulator's pseudo-terminal) or an in-memory simulated device.

A link has `write(data)`, `async read() -> bytes` (the next chunk; raises PortClosed when the
cable is pulled or the device unplugged) and `close()`. An opener makes a fresh link, so a
driver can reopen a port that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import serial

from edge.errors import PortClosed

READ_CHUNK = 4096


class ByteLink(Protocol):
    async def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Opener = Callable[[], Awaitable[ByteLink]]


class SerialLink:
    """A pyserial port read through the event loop (add_reader): no thread per port.

    Only plain 8N1 at a baud rate is asked of the port: RS485 ioctls and modem lines fail on
    pseudo-terminals and are not needed by these boards (hardware.md §4).
    """

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._closed = False
        self._loop.add_reader(port.fileno(), self._readable)

    @classmethod
    async def open(cls, path: str, baud: int) -> SerialLink:
        try:
            # exclusive: one owner per port (an advisory flock, as on the site's state folder).
            # A second agent or a stray `screen` on the bus would interleave frames with ours.
            port = serial.Serial(
                path, baud, bytesize=8, parity="N", stopbits=1, timeout=0, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortClosed(f"cannot open {path}: {exc}") from exc
        return cls(port)

    def _readable(self) -> None:
        try:
            data = self._port.read(READ_CHUNK)
            if not data:
                # Readable but nothing to read: the other end is gone (a pulled cable).
                raise PortClosed("serial port reports data but returned none")
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            return
        self._chunks.put_nowait(data)

    def _fail(self, exc: BaseException) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._port.fileno())
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
        self._chunks.put_nowait(
            exc if isinstance(exc, PortClosed) else PortClosed(f"serial port failed: {exc}")
        )

    async def read(self) -> bytes:
        if self._closed and self._chunks.empty():
            raise PortClosed("serial port is closed")
        item = await self._chunks.get()
        if isinstance(item, BaseException):
            self._chunks.put_nowait(item)  # every later read fails the same way
            raise item
        return item

    def write(self, data: bytes) -> None:
        if self._closed:
            raise PortClosed("serial port is closed")
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            raise PortClosed(f"write failed: {exc}") from exc

    def close(self) -> None:
        self._fail(PortClosed("closed by the agent"))


def serial_opener(path: str, baud: int) -> Opener:
    async def open_port() -> ByteLink:
        return await SerialLink.open(path, baud)

    return open_port
