"""Entries a site keeps for parcels that are gone (issue 11, kind 11): removal orders that
reach a site after an outage during which consumers collected the parcels central had
expired, and the entries an older agent left behind (115 at one site in the field).

What must hold: a site keeps no removal entry for a parcel it does not hold or expect, and
central closes its removal for it, so no returns courier is sent for a parcel that is gone.

The simulator's day plays it with `plant_stale_removals(agent, 115)` (a store an older
agent left) or `await late_removal_order(agent, signer, labels)` (central's order delivered
late, e.g. for parcels just collected), and checks `stale_removals(agent) == []` once the
site's timers have run (its first tick, then each prune).
"""

from __future__ import annotations

import secrets

from edge.agent import SiteAgent
from protocols.commands import sign_command
from protocols.labels import make_s10
from protocols.messages import Command, MarkForRemoval, RemovalReason, encode
from protocols.tokens import TokenSigner

# Labels for parcels that never existed in the day (serials far from the day's), so a
# planted entry can never match a real parcel.
PLANTED_SERIAL_BASE = 90_000_000
# A removal order central signs is valid for this long (as central's own MarkForRemoval).
ORDER_TTL_S = 3600.0


def plant_stale_removals(agent: SiteAgent, count: int) -> list[str]:
    """Write `count` removal entries for parcels long gone into the site's store, as an
    older agent kept them; returns their labels."""
    now = agent.clock.now()
    planted = [make_s10("ZZ", PLANTED_SERIAL_BASE + i, "CN") for i in range(count)]
    with agent.store.transaction() as tx:
        for label in planted:
            tx.mark_for_removal(label, RemovalReason.EXPIRED.value, now)
    return planted


async def late_removal_order(
    agent: SiteAgent,
    signer: TokenSigner,
    labels: list[str],
    reason: RemovalReason = RemovalReason.EXPIRED,
) -> None:
    """Deliver central's signed MarkForRemoval for `labels` to the site now (an order that
    was queued at the broker through an outage); the site replies as to any command."""
    now = agent.clock.now()
    command = Command(
        id=secrets.token_hex(8),
        site=agent.site,
        issued_at=now,
        expires_at=now + ORDER_TTL_S,
        nonce=secrets.token_hex(8),
        body=MarkForRemoval(parcels=labels, reason=reason),
    )
    await agent.handle_command_payload(encode(sign_command(signer, command)))


def stale_removals(agent: SiteAgent) -> list[str]:
    """The site's removal entries for parcels it neither holds nor expects (should be none)."""
    view = agent.store.read()
    return sorted(p for p in view.removals() if not view.parcel_here(p))
