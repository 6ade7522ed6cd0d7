"""Removals a site says it cannot make: the parcel is no longer there.

Central marks parcels for removal (expired, returned) with `MarkForRemoval` and opens a
removal each, which sends a returns courier to the site. While a site is offline, central
may expire a parcel the consumer then collects at the locker; the order reaches the site
after the parcel left. The site keeps no entry for such a parcel and answers which parcels
were not there (`result["not_here"]`, edge/agent.py). Central closes those removals, so no
courier is sent for a parcel that is gone. Where the parcel went reaches central as the
site's own event (a pickup or a removal, which closes the removal too if it comes first).
"""

from __future__ import annotations

import logging

from central.store import StoreSession
from protocols.messages import MarkForRemoval, Reply

log = logging.getLogger(__name__)


def settle_from_reply(session: StoreSession, reply: Reply, now: float) -> list[str]:
    """Close the open removals at `reply.site` of the parcels the site's accepted
    MarkForRemoval reply lists as not there; returns their labels. A reply to any other
    command, or a list naming parcels central never ordered removed there, closes nothing."""
    if not reply.ok or not reply.result:
        return []
    command = session.get_command(reply.command_id)
    if command is None or command.type != MarkForRemoval.model_fields["type"].default:
        return []
    listed = reply.result.get("not_here")
    if not isinstance(listed, list):
        return []
    open_here = {r.label for r in session.open_removals(reply.site)}
    closed = sorted({p for p in listed if isinstance(p, str) and p in open_here})
    for label in closed:
        session.finish_removals(label, now)
    if closed:
        log.info(
            "site %s: %s parcel(s) no longer there, no courier sent: %s",
            reply.site,
            len(closed),
            ", ".join(closed[:10]),
        )
    return closed
