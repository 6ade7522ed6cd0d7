"""Byte links: the one thing a driver needs from a serial port, so it can run over a real
port (pyserial, on a Pi or a simulator's pseudo-terminal) or an in-memory simulated device.

A link has `write(data)`, `async read() -> bytes` (the next chunk; raises PortClosed when the
cable is pulled or the device unplugged) and `close()`. An opener makes a fresh link, so a
driver can reopen a port that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import serial

from edge.errors import PortClosed

READ_CHUNK = 4096
# A port with no file descriptor to watch (a pyserial URL such as loop:// or rfc2217://) is
# read by a thread of its own, which waits this long per read to notice the port's close.
READ_WAIT_S = 0.2


class ByteLink(Protocol):
    async def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Opener = Callable[[], Awaitable[ByteLink]]


class SerialLink:
    """A pyserial port read through the event loop (add_reader): no thread per port. A port
    given as a pyserial URL without a file descriptor (loop://, rfc2217://) is read by one
    thread that hands each chunk to the loop; the framing stays the driver's either way.

    Only plain 8N1 at a baud rate is asked of the port: RS485 ioctls and modem lines fail on
    pseudo-terminals and are not needed by these boards (hardware.md §4).
    """

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._closed = False
        self._fd = _fileno(port)
        if self._fd is not None:
            self._loop.add_reader(self._fd, self._readable)
        else:
            port.timeout = READ_WAIT_S
            threading.Thread(
                target=self._read_in_thread, name=f"serial {port.port}", daemon=True
            ).start()

    @property
    def name(self) -> str:
        """The port's device path or pyserial URL, as it was opened."""
        return str(self._port.port)

    @classmethod
    async def open(cls, path: str, baud: int) -> SerialLink:
        """Open `path` (a device path, or a pyserial URL such as socket://host:port) at
        `baud` 8N1. Raises PortClosed naming the port when it cannot be opened."""
        try:
            # exclusive: one owner per port (an advisory flock, as on the site's state folder).
            # A second agent or a stray `screen` on the bus would interleave frames with ours.
            port = serial.serial_for_url(
                path, baud, bytesize=8, parity="N", stopbits=1, timeout=0, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortClosed(f"cannot open {path}: {exc}") from exc
        return cls(port)

    def _readable(self) -> None:
        assert self._fd is not None, "only a port with a file descriptor is watched"
        try:
            # os.read on the port's descriptor, not pyserial's read: that one selects on the
            # descriptor again before reading, a second system call for every chunk of every
            # board's reply (the largest part of an idle agent's CPU is its polls).
            data = os.read(self._fd, READ_CHUNK)
            if not data:
                # Readable but nothing to read: the other end is gone (a pulled cable).
                raise PortClosed("serial port reports data but returned none")
        except BlockingIOError:
            return  # woken for nothing (another reader took it): wait for the next
        except OSError as exc:
            self._fail(exc)
            return
        self._chunks.put_nowait(data)

    def _read_in_thread(self) -> None:
        while not self._closed:
            try:
                data = self._port.read(1)
                if data:
                    data += self._port.read(self._port.in_waiting)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # (a URL port closed under a blocked read fails in its own ways)
                self._from_thread(self._fail, exc)
                return
            if data:
                self._from_thread(self._chunks.put_nowait, data)

    def _from_thread(self, fn: Callable[[Any], None], arg: Any) -> None:
        if self._closed:
            return  # closed by the agent: nothing more to say
        with contextlib.suppress(RuntimeError):  # the loop itself has closed
            self._loop.call_soon_threadsafe(fn, arg)

    def _fail(self, exc: BaseException) -> None:
        if not self._closed:
            self._closed = True
            if self._fd is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(self._fd)
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
            # A frame of a few bytes goes whole into the tty's buffer with one os.write;
            # pyserial's write would select on the descriptor after it, to wait for room
            # that is there. What a full buffer leaves over goes through pyserial, which waits.
            written = 0
            if self._fd is not None:
                with contextlib.suppress(BlockingIOError):  # the descriptor is non-blocking
                    written = os.write(self._fd, data)
            if written < len(data):
                self._port.write(data[written:])
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            raise PortClosed(f"write failed: {exc}") from exc

    def close(self) -> None:
        self._fail(PortClosed("closed by the agent"))


def _fileno(port: serial.SerialBase) -> int | None:
    """The port's file descriptor, or None for a URL port that has none (loop://)."""
    try:
        return int(port.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def serial_opener(path: str, baud: int) -> Opener:
    async def open_port() -> ByteLink:
        return await SerialLink.open(path, baud)

    return open_port
