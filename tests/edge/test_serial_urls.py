"""A serial port may be a pyserial URL, as docs/edge.md and the configuration reference
say: the agent's link opens loop:// (no file descriptor: read by a thread) as well as a
device path, and names a port it cannot open."""

from __future__ import annotations

import asyncio
import os
import pty

import pytest

from edge.drivers.links import SerialLink
from edge.errors import PortClosed


def test_a_loop_url_carries_bytes_and_ends_reads_on_close() -> None:
    async def scenario() -> None:
        link = await SerialLink.open("loop://", 19200)
        link.write(b"\x02\x00\x31\x03")  # loop:// hands back what is written
        got = b""
        async with asyncio.timeout(5):
            while len(got) < 4:
                got += await link.read()
        assert got == b"\x02\x00\x31\x03"
        link.close()
        with pytest.raises(PortClosed):
            await link.read()

    asyncio.run(scenario())


def test_a_device_path_still_opens() -> None:
    controller, device = pty.openpty()

    async def scenario() -> None:
        link = await SerialLink.open(os.ttyname(device), 9600)
        try:
            os.write(controller, b"LBL123\r")
            got = b""
            async with asyncio.timeout(5):
                while not got.endswith(b"\r"):
                    got += await link.read()
            assert got == b"LBL123\r"
        finally:
            link.close()

    try:
        asyncio.run(scenario())
    finally:
        os.close(controller)
        os.close(device)


def test_a_url_no_handler_knows_is_named() -> None:
    async def scenario() -> None:
        with pytest.raises(PortClosed, match="cannot open nosuch://x"):
            await SerialLink.open("nosuch://x", 9600)

    asyncio.run(scenario())
