"""Faults of the message path rather than of a site's devices (issue 11, kinds 2 and 8):

- `kill_broker`: the broker killed (SIGKILL) rather than stopped. It saves nothing on the
  way down: sessions, queued events and retained messages come back only as of its last
  periodic save, and Mosquitto 2.0 does not restore central's shared subscription, so
  events acknowledged to sites around the kill are never delivered. Central must get every
  one of them anyway, without any further event from the sites (their heartbeats show
  central is behind; central asks for a resend).
- `site_dies_with_broker`: a site dies while the broker is down, so its last will never
  fires and the restarted broker restores its retained "online". Central must call it
  offline within its staleness limit, with an alarm.
- `LostCentralMember`: a second central process on the shared event subscription that is
  killed (-9) and never comes back. The broker queues that member's share until its
  session expires; every event must still be applied, with no further site activity.

The simulator's day (hw_sim/network/field_day.py) calls these; each leaves the verdict to what
central holds at the end (every site's events applied once, the alarms it raised).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.broker import PrivateBroker
from edge.agent import SiteAgent
from protocols.clock import Clock

log = logging.getLogger(__name__)

# How long a central member may take to connect and subscribe before the fault gives up.
MEMBER_START_TIMEOUT_S = 30.0
# What `lockernet central run` logs once its subscriptions are granted
# (central/service/broker_session.py).
SUBSCRIBED_LINE = "subscribed to the sites"


async def kill_broker(
    broker: PrivateBroker, down_s: float = 0.0, clock: Clock | None = None
) -> None:
    """Kill the broker with SIGKILL (no last save) and start it again on the same port and
    data folder, after `down_s` seconds of `clock`'s time (at once if 0 or no clock)."""
    await asyncio.to_thread(broker.stop, signal.SIGKILL)
    if down_s > 0 and clock is not None:
        await clock.sleep(down_s)
    await asyncio.to_thread(broker.start)


async def site_dies_with_broker(broker: PrivateBroker, agent: SiteAgent) -> None:
    """Kill the broker (-9), stop `agent` without a word while the broker is down (no last
    will can fire), and start the broker again: it brings back the site's retained
    "online" from its last save. The agent stays stopped; the caller may start a new one."""
    await asyncio.to_thread(broker.stop, signal.SIGKILL)
    await agent.stop(graceful=False)
    await asyncio.to_thread(broker.start)


def config_toml(config: dict[str, dict[str, Any]]) -> str:
    """A central config (sections of scalar values and flat tables, as the fleet builds it)
    as TOML."""
    lines: list[str] = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if isinstance(value, dict):
                # An inline table ([promise] needs, say): `key = value` pairs, not JSON's `:`.
                cells = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{{cells}}}")
            elif value is not None:
                # JSON strings, numbers and booleans are TOML's too.
                lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@dataclass
class LostCentralMember:
    """A second `lockernet central run` on the same broker, store and share group, with a
    client id of its own; `kill()` ends it with SIGKILL and it is never started again."""

    config: dict[str, dict[str, Any]]
    workdir: Path
    client_id: str = "central-lost-member"
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.client_id}.log"

    def start(self) -> None:
        """Start the member and return once it has subscribed (CentralError-free: raises
        RuntimeError naming the log if it exits or does not subscribe in time)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / f"{self.client_id}.toml"
        config = {**self.config, "broker": {**self.config.get("broker", {})}}
        config["broker"]["client_id"] = self.client_id
        config_path.write_text(config_toml(config))
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
                [
                    sys.executable,
                    "-c",
                    "import sys; from protocols.cli import main; sys.exit(main())",
                    "central",
                    "run",
                    "--config",
                    str(config_path),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ},
            )
        deadline = time.monotonic() + MEMBER_START_TIMEOUT_S
        while SUBSCRIBED_LINE not in self._log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"central member {self.client_id} did not subscribe (see {self.log_path})"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no goodbye, its session stays at the broker until it expires."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def _log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


async def central_member_gone(
    config: dict[str, dict[str, Any]],
    workdir: Path,
    clock: Clock,
    alive_s: float,
    client_id: str = "central-lost-member",
) -> LostCentralMember:
    """Start a second central member, let it take its share for `alive_s` seconds of
    `clock`'s time, then kill it (-9) for good. Returns the (dead) member."""
    member = LostCentralMember(config, workdir, client_id)
    await asyncio.to_thread(member.start)
    log.info("central member %s joined the shared subscription", client_id)
    await clock.sleep(alive_s)
    member.kill()
    log.info("central member %s killed (-9), never to return", client_id)
    return member
