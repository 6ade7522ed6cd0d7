"""Remote door opens and slot service changes from the operator API, each written to the
audit log in the same transaction as the signed command it queues.

The command itself is a durable SEND_COMMAND task (central.sites.commands.queue_command),
sent by whichever central process runs tasks, so a call answers as soon as the order is
safely stored. Remote opens to one site are also limited here, before anything is sent: no
more than REMOTE_OPEN_LIMIT queued in REMOTE_OPEN_WINDOW_S (one remote attack once opened a
whole network's lockers). The site's own breaker stays the last word; this guard keeps a
stolen login from reaching it, and an alarm tells the operator someone tried.
"""

from __future__ import annotations

import dataclasses

from central.errors import CentralError, UnknownSite
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.commands import queue_command
from central.store import CentralStore, StoreSession, StoreView
from central.store.queries.audit import AuditEntry
from central.web.auth import User
from protocols.commands import DOOR_COMMAND_FRESH_S
from protocols.errors import ProtocolError
from protocols.messages import OpenSlot, SetSlotService, SiteKind
from protocols.topics import check_site_id

# The site's own breaker's defaults (the agent's [timing] remote_open_limit and
# remote_open_window_s): central refuses what the site would refuse anyway.
REMOTE_OPEN_LIMIT = 3
REMOTE_OPEN_WINDOW_S = 600.0
# Remote opens across the whole network in the same window: three at every site would let
# one stolen login open hundreds of doors in ten minutes. A few a day is the normal need
# (a consumer whose code will not scan); more means a maintenance session on site.
REMOTE_OPEN_NETWORK_LIMIT = 20
# The lock every remote open takes before its site's (PostgreSQL: an advisory lock on this
# name), so opens at different sites at once cannot all pass the network's limit. Only
# remote opens take it, always first: no lock order can cycle through it.
_NETWORK_LOCK = "remote-opens:network"
OPEN_ACTION = "open_slot"
SERVICE_ACTION = "set_slot_service"
QUEUED = "queued"
REFUSED = "refused"
REASON_MAX_CHARS = 200


class UnknownSlot(CentralError):
    """A slot the site has not reported."""

    def __init__(self, site: str, slot: str) -> None:
        self.site = site
        self.slot = slot
        super().__init__(f"slot {slot!r} is not at site {site} (GET /api/sites/{site}/slots)")


class RemoteOpenRefused(CentralError):
    """Central's mass-open guard held: too many remote opens to one site in its window."""


def remote_open(
    store: CentralStore,
    *,
    actor: User,
    site: str,
    slot: str,
    reason: str,
    now: float,
    limit: int = REMOTE_OPEN_LIMIT,
    window_s: float = REMOTE_OPEN_WINDOW_S,
    network_limit: int = REMOTE_OPEN_NETWORK_LIMIT,
) -> AuditEntry:
    """Queue a signed OpenSlot for `slot` at `site` and write its audit entry (outcome
    "queued", command_id the task that sends it; central/sites/commands.py follows it with
    the site's answer). UnknownSite, UnknownSlot or CentralError
    for a bad site, slot or reason (nothing written); RemoteOpenRefused if `limit` opens were
    queued to the site, or `network_limit` to all sites, in the last `window_s` seconds:
    then the refusal is audited
    (outcome "refused") and a remote_open_refused alarm raised, and nothing is sent."""
    text = _reason(reason)
    with store.transaction() as session:
        session.lock_site(_NETWORK_LOCK)  # two calls at once cannot both pass the guard
        session.lock_site(site)
        _check_slot(session, site, slot)
        # Every open asked for counts, whatever the site has answered since (the site's
        # breaker counts refused slots too); only central's own refusals do not.
        since = now - window_s
        recent = session.audit_count(site, (OPEN_ACTION,), None, since, excluding=REFUSED)
        network = session.audit_count(None, (OPEN_ACTION,), None, since, excluding=REFUSED)
        if recent >= limit:
            why = (
                f"site {site} has had {recent} remote opens in the last {window_s:.0f} s "
                f"(the limit is {limit})"
            )
        elif network >= network_limit:
            why = (
                f"the network has had {network} remote opens in the last {window_s:.0f} s "
                f"(the limit is {network_limit})"
            )
        else:
            why = None
        if why is not None:
            entry = _audit(
                session,
                actor,
                action=OPEN_ACTION,
                site=site,
                slot=slot,
                reason=text,
                outcome=REFUSED,
                task=None,
                now=now,
            )
            raise_alarm(
                session,
                site,
                AlarmKind.REMOTE_OPEN_REFUSED,
                now,
                ref="central",
                detail=f"{actor.name} asked to open {slot}: {why}",
                source=f"api {actor.name}",
            )
            refused = entry
        else:
            # Sent within the site's freshness window or not at all (run_tasks drops it).
            expires_at = now + DOOR_COMMAND_FRESH_S
            body = OpenSlot(slot=slot, reason=text)
            task = queue_command(session, site, body, now, expires_at=expires_at)
            return _audit(
                session,
                actor,
                action=OPEN_ACTION,
                site=site,
                slot=slot,
                reason=text,
                outcome=QUEUED,
                task=task,
                now=now,
            )
    # Raised once the refusal and its alarm are committed.
    raise RemoteOpenRefused(
        f"{why}; refused and audited as entry {refused.id}: open a maintenance session on "
        "site for more"
    )


def set_slot_service(
    store: CentralStore,
    *,
    actor: User,
    site: str,
    slot: str,
    in_service: bool,
    reason: str,
    now: float,
) -> AuditEntry:
    """Queue a signed SetSlotService (take `slot` out of service, or put it back) and write
    its audit entry. UnknownSite, UnknownSlot or CentralError for bad input (nothing
    written)."""
    text = _reason(reason)
    with store.transaction() as session:
        session.lock_site(site)
        _check_slot(session, site, slot)
        body = SetSlotService(slot=slot, in_service=in_service, reason=text)
        task = queue_command(session, site, body, now)
        action = SERVICE_ACTION + (":in" if in_service else ":out")
        return _audit(
            session,
            actor,
            action=action,
            site=site,
            slot=slot,
            reason=text,
            outcome=QUEUED,
            task=task,
            now=now,
        )


def audit_log(view: StoreView, limit: int = 200) -> list[AuditEntry]:
    """The newest `limit` audit entries, newest first."""
    return view.audit_entries(limit)


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise CentralError("reason: say why (it goes in the audit log and to the site)")
    if len(text) > REASON_MAX_CHARS:
        raise CentralError(f"reason: at most {REASON_MAX_CHARS} characters, got {len(text)}")
    return text


def _check_slot(session: StoreSession, site: str, slot: str) -> None:
    try:
        check_site_id(site)
    except ProtocolError:
        raise UnknownSite(site) from None
    known = session.get_site(site)
    if known is None:
        raise UnknownSite(site)
    if known.kind is SiteKind.COUNTER:
        raise CentralError(f"site {site} is a staffed counter: it has no doors to open")
    if session.get_slot(site, slot) is None:
        raise UnknownSlot(site, slot)


def _audit(
    session: StoreSession,
    actor: User,
    *,
    action: str,
    site: str,
    slot: str,
    reason: str,
    outcome: str,
    task: int | None,
    now: float,
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor=actor.name,
        role=actor.role.value,
        action=action,
        reason=reason,
        outcome=outcome,
        site=site,
        target=slot,
        command_id=None if task is None else f"task:{task}",
    )
    entry_id = session.add_audit(entry)
    return dataclasses.replace(entry, id=entry_id)
