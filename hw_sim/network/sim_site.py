"""One site of the simulated network: its agent, its simulated hardware and what the day
needs to know about it (whether it is being replaced, who is on the way, the stores it lost).

What the site wrote is read through its store's public reads (`Store.event_ids`,
`Store.event_messages`), never its database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from central.sites.network import NetworkSite
from edge.agent import SiteAgent
from hw_sim.devices.site import SimulatedSite
from hw_sim.field.wall_clock import WrongClock


@dataclass
class SimSite:
    """A site of the day: `spec` from the network, the running `agent`, its hardware `sim`."""

    spec: NetworkSite
    agent: SiteAgent
    sim: SimulatedSite
    wall: WrongClock  # the agent's wall clock, which a field fault can set wrong
    rebuild: Callable[[], SiteAgent]  # a new agent on the same config, store file and ports
    over_pty: bool = False  # its devices are on real pseudo-terminals, as on a Pi
    # Its agent is down and being replaced (a field fault): its store is closed, so the
    # rounds and the live view leave it alone until it is back.
    rebooting: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one person at the site at a time
    visiting: set[str] = field(default_factory=set)  # "courier", "returns": who is on the way
    # Event ids of stores this site has lost (field faults): still owed to central.
    retired_ids: set[str] = field(default_factory=set)

    retired_payloads: list[dict[str, Any]] = field(default_factory=list)

    def written_ids(self) -> set[str]:
        """Every event id this site has written, in its store now and in stores it lost."""
        return self.retired_ids | set(self.agent.store.event_ids())

    def payloads(self) -> list[dict[str, Any]]:
        """Every event payload this site has written, lost stores included."""
        return self.retired_payloads + _payloads(self.agent)

    def retire_store(self) -> None:
        """The store is about to be lost: keep what it wrote for the verdict."""
        self.retired_ids |= set(self.agent.store.event_ids())
        self.retired_payloads.extend(_payloads(self.agent))


def _payloads(agent: SiteAgent) -> list[dict[str, Any]]:
    return [json.loads(message)["payload"] for message in agent.store.event_messages()]
