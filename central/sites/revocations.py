"""Revoked courier badges, told to sites.

A badge is checked offline at the site, so revoking one is a RevokeBadge command to every
site, held there until the badge would have expired. A site whose store is new (a site
added after the revocation, a store lost or replaced by a spare) holds none of them, and a
store put back after a spare stood in lacks those made meanwhile: when central starts such a
site's stream, or takes an old one up again, it queues every revocation still in force to it
again (a site told twice keeps one).
"""

from __future__ import annotations

from central.sites.commands import queue_command
from central.store import StoreSession
from protocols.messages import RevokeBadge


def queue_revocation(
    session: StoreSession, site: str, badge_id: str, valid_until: float, now: float
) -> None:
    """Queue one badge's revocation to one site (a durable task, resent until it answers);
    it lapses with the badge (`valid_until`, Unix s)."""
    body = RevokeBadge(badge_id=badge_id, until=valid_until)
    queue_command(session, site, body, now, expires_at=valid_until)


def queue_revocations_in_force(session: StoreSession, site: str, now: float) -> int:
    """Queue to `site` every revocation of a badge that is still valid at `now`: the site's
    store is new and holds none. Returns how many were queued."""
    revoked = session.revoked_badges_valid_at(now)
    for badge in revoked:
        queue_revocation(session, site, badge.badge_id, badge.valid_until, now)
    return len(revoked)
