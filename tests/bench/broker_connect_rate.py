"""Benchmark: how fast one private Mosquitto answers MQTT 5 CONNECTs in the clear (no TLS).

N clients connect with a given concurrency, each reading its CONNACK; prints connects/s and
CONNACK latency percentiles (the client side is in the same measurement).

Run: .venv/bin/python tests/bench/broker_connect_rate.py 2100 50
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from central.broker import PrivateBroker

KEEPALIVE_S = 60


def connect_packet(client_id: str) -> bytes:
    """A minimal MQTT 5 CONNECT (clean start, no properties, no will, no credentials)."""
    cid = client_id.encode()
    variable = b"\x00\x04MQTT" + bytes([5, 0x02]) + KEEPALIVE_S.to_bytes(2, "big") + b"\x00"
    body = variable + len(cid).to_bytes(2, "big") + cid
    assert len(body) < 128  # one-byte remaining length
    return bytes([0x10, len(body)]) + body


async def _one(host: str, port: int, index: int, latencies: list[float]) -> None:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(connect_packet(f"site-L{index:05d}"))
    await writer.drain()
    head = await reader.readexactly(2)
    assert head[0] == 0x20, head  # CONNACK
    await reader.readexactly(head[1])
    latencies.append(time.perf_counter() - started)
    writer.close()


async def main(count: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder, PrivateBroker(Path(folder)) as broker:
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def guarded(index: int) -> None:
            async with gate:
                await _one(broker.host, broker.port, index, latencies)

        started = time.perf_counter()
        await asyncio.gather(*(guarded(i) for i in range(count)))
        total = time.perf_counter() - started
        latencies.sort()
        print(
            f"{count} connects, concurrency {concurrency}: {total:.2f} s, "
            f"{count / total:.0f} connects/s, CONNACK p50 {latencies[count // 2] * 1000:.1f} ms"
            f" p99 {latencies[int(count * 0.99)] * 1000:.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
