"""Which sites are alive, judged by what central hears, and how far off each site's clock is.

A site's retained status is not evidence that it is alive: a broker killed while a site
dies brings the site's retained "online" back from its persistence file, and the last will
that would have replaced it never fires. So:

- any message a site sends that central receives live (a heartbeat, an event, a state
  snapshot, a reply, a status published now) counts as hearing it; a retained status the
  broker replays on (re)subscription does not;
- a site not heard from for `liveness.stale_after_s` (or four of its own heartbeat
  intervals, if longer) is called offline with a `site_offline` alarm, cleared when it is
  heard again; silence is counted from when this central process started listening at the
  earliest, so a central that was down itself does not call the whole fleet offline;
- a heartbeat's `last_seq` ahead of what central has received opens a gap at once, and the
  gap check (central/sites/gaps.py) asks the site to resend: events the broker acknowledged to
  the site and never delivered come back whatever the site does next;
- each heartbeat's `at` minus central's receive time is a sample of the site's clock
  offset, smoothed, stored per site, with a `clock_offset` alarm past the limit; a site
  past it is sent central's signed time (central/sites/site_clock.py).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from central.service.config import LivenessConfig
from central.sites import registry, site_clock
from central.sites.alarms import AlarmKind, clear_alarm, raise_alarm, site_online
from central.sites.streams import epoch_of
from central.store import LivenessRecord, SiteRecord, StoreSession
from protocols.localtime import timestamp
from protocols.messages import Heartbeat, SiteStatus

log = logging.getLogger(__name__)

# A site announces its heartbeat interval; it is called offline after this many missed
# beats (when that is longer than the configured limit). Beats are QoS 0: one or two may
# be lost without the site being down.
MISSED_BEATS = 4
# How often one central process writes that it heard a site that speaks in every batch:
# staleness is judged over tens of seconds (stale_after_s, four heartbeats), so a second's
# resolution loses nothing and saves a read and a write per site per batch.
HEARD_WRITE_EVERY_S = 1.0
# Weight of a new clock sample in the smoothed offset: network and batching delays jitter
# each sample by tens of milliseconds; a quarter smooths that within a few beats.
OFFSET_SMOOTHING = 0.25


def stale_limit_s(record: LivenessRecord | None, config: LivenessConfig) -> float:
    """Seconds of silence after which this site is called offline."""
    interval = record.beat_interval_s if record is not None else None
    return max(config.stale_after_s, MISSED_BEATS * (interval or 0.0))


def heard(session: StoreSession, site: str, now: float) -> LivenessRecord:
    """The site was heard at `now` (central's clock): it is alive. A site called offline
    (for silence, its last will or an orderly stop) is online again and its alarm cleared."""
    record = session.get_liveness(site)
    updated = (
        LivenessRecord(site, heard_at=now)
        if record is None
        else dataclasses.replace(record, heard_at=max(now, record.heard_at), stale=False)
    )
    session.save_liveness(updated)
    known = session.get_site(site)
    if known is None or known.online is not True:
        known = known or SiteRecord(site=site, kind=None)
        session.save_site(dataclasses.replace(known, online=True))
        site_online(session, site, now)
    return updated


def apply_heartbeat(
    session: StoreSession,
    beat: Heartbeat,
    now: float,
    config: LivenessConfig,
    *,
    received_at: float | None = None,
) -> None:
    """A heartbeat applied at `now` (central's clock; `received_at`, when central's network
    thread took it, if known): the site is alive, its clock's offset is sampled, and a
    `last_seq` beyond what central received opens a gap."""
    record = heard(session, beat.site, now)
    sample = beat.at - (received_at if received_at is not None else now)
    offset = record.clock_offset_s
    if offset is None or abs(sample - offset) > config.clock_offset_limit_s:
        offset = sample  # a first sample, or a step of the site's clock: take it at once
    elif record.beat_at is None or beat.at != record.beat_at:
        # (the same beat again is not a new sample: every central process hears each one)
        offset += OFFSET_SMOOTHING * (sample - offset)
    session.save_liveness(
        dataclasses.replace(
            record, beat_at=beat.at, beat_interval_s=beat.interval_s, clock_offset_s=offset
        )
    )
    _judge_clock(session, beat.site, offset, now, config)
    if abs(offset) > config.clock_offset_limit_s:
        site_clock.send_time(
            session, beat.site, now, config, f"its clock is {offset:+.0f} s from central's"
        )
    _note_last_seq(session, beat, now)


def _judge_clock(
    session: StoreSession, site: str, offset: float, now: float, config: LivenessConfig
) -> None:
    limit = config.clock_offset_limit_s
    if abs(offset) > limit:
        ahead = "ahead of" if offset > 0 else "behind"
        raise_alarm(
            session,
            site,
            AlarmKind.CLOCK_OFFSET,
            now,
            detail=f"the site's clock is {_span(abs(offset))} {ahead} central's "
            f"(limit {limit:.0f} s)",
            source=f"site {site} heartbeat",
        )
    elif abs(offset) < limit / 2:
        # Cleared only well inside the limit, so an offset hovering at it does not flap.
        clear_alarm(session, site, AlarmKind.CLOCK_OFFSET, now)


def _note_last_seq(session: StoreSession, beat: Heartbeat, now: float) -> None:
    # The site has written events up to beat.last_seq. If central has not received them
    # (the broker took them and lost them), open the gap now: the gap check asks for them
    # after ingest.gap_timeout_s, time enough for events merely in flight to arrive.
    # Only for the stream central already follows: a beat from a new epoch (a lost or
    # replaced store) leaves starting that stream to the site's snapshot and events
    # (central/sites/streams.py), which carry what central needs to reconcile it.
    stream = session.stream(beat.site)
    if stream.id is None or stream.epoch != epoch_of(beat.epoch):
        return
    if beat.last_seq > stream.max_received_seq:
        session.save_stream(
            dataclasses.replace(
                stream,
                max_received_seq=beat.last_seq,
                gap_since=stream.gap_since if stream.gap_since is not None else now,
            )
        )


def apply_status(
    session: StoreSession,
    status: SiteStatus,
    now: float,
    *,
    live: bool,
    config: LivenessConfig,
    source: str,
) -> None:
    """A site's status message. `live` is False for a retained status the broker replayed
    on subscription: that says what the site once said, not that it is alive now."""
    if live:
        detail = None if status.online else _dropped(session, status)
        registry.apply_status(session, status, now, source, detail=detail)
        if status.online:
            heard(session, status.site, now)
        else:
            record = session.get_liveness(status.site)
            if record is not None:
                session.save_liveness(dataclasses.replace(record, stale=True))
        return
    if status.online:
        return  # a replayed "online" may be all that is left of a dead site
    # A replayed "offline" is believed unless central heard the site since it started.
    record = session.get_liveness(status.site)
    if record is None or record.stale or now - record.heard_at >= stale_limit_s(record, config):
        # Replayed: the link went down before this process listened. When it was heard last
        # is the best evidence of the drop; the will's own `at` is when it connected.
        dropped_at = record.heard_at if record is not None else None
        registry.apply_status(
            session,
            status,
            now,
            source,
            dropped_at=dropped_at,
            detail=_dropped(session, status, replayed=True),
        )


def _dropped(session: StoreSession, status: SiteStatus, *, replayed: bool = False) -> str:
    """The `site_offline` detail for a last will (or orderly stop): when the site was last
    heard, in the network's local time; the time its connection began only if never heard."""
    record = session.get_liveness(status.site)
    what = "last will, replayed by the broker" if replayed else "last will or orderly stop"
    if record is None:
        return (
            f"the site's link is down ({what}); never heard by central, its connection began "
            f"{timestamp(status.at)}"
        )
    return f"the site's link is down ({what}); last heard {timestamp(record.heard_at)}"


def check_stale(
    session: StoreSession,
    now: float,
    listening_since: float | Mapping[str, float | None],
    config: LivenessConfig,
) -> list[str]:
    """Call offline, with an alarm, every site silent past its limit. Silence counts from
    when this process began to hear the site's broker at the earliest: `listening_since`,
    one time for every site (one broker), or a broker's name -> that time, None while this
    process is not connected to it (its sites are not judged: the broker went quiet, not
    they). Returns the sites newly called offline."""
    called: list[str] = []
    records = {r.site: r for r in session.list_liveness()}
    for listed in session.list_sites():
        since = _listening_for(listed, listening_since)
        if _silent_for(listed, records.get(listed.site), now, since, config) is None:
            continue
        # Every central process runs this check: judged again under the site's lock, so a
        # site heard meanwhile, or called offline by another process, is left alone.
        session.lock_site(listed.site)
        site, record = session.get_site(listed.site), session.get_liveness(listed.site)
        silent = _silent_for(site, record, now, since, config)
        if site is None or silent is None:
            continue
        last = now - silent
        session.save_site(dataclasses.replace(site, online=False))
        session.save_liveness(
            dataclasses.replace(record, stale=True)
            if record is not None
            else LivenessRecord(site.site, heard_at=last, stale=True)
        )
        raise_alarm(
            session,
            site.site,
            AlarmKind.SITE_OFFLINE,
            now,
            detail=f"nothing heard from the site for {_span(silent)}, since "
            f"{timestamp(last)} (no heartbeat, event or state); its retained status may be "
            "stale",
            source="central liveness check",
        )
        # Said once the call commits (another process may have made it first and won).
        line = f"site {site.site}: nothing heard for {silent:.0f} s; called offline"
        session.after_commit(functools.partial(log.warning, "%s", line))
        called.append(site.site)
    return called


def _listening_for(
    site: SiteRecord, listening_since: float | Mapping[str, float | None]
) -> float | None:
    """Since when this process hears the broker `site` is on; None: not now, or unsure."""
    if not isinstance(listening_since, Mapping):
        return listening_since
    if site.broker is not None and site.broker in listening_since:
        return listening_since[site.broker]
    # Not heard on any broker this process knows: it could be on any of them, so it is
    # judged only while all are heard, from the latest (re)connection among them.
    times = list(listening_since.values())
    if not times or any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def _silent_for(
    site: SiteRecord | None,
    record: LivenessRecord | None,
    now: float,
    listening_since: float | None,
    config: LivenessConfig,
) -> float | None:
    """How long an online site not yet called stale has been silent, if past its limit. A
    site whose broker central could not reach is neither online nor offline (None): it is
    judged again once heard before (it has a liveness record)."""
    if site is None or listening_since is None or (record is not None and record.stale):
        return None
    if site.online is False or (site.online is None and record is None):
        return None
    silent = now - max(record.heard_at if record is not None else 0.0, listening_since)
    return silent if silent >= stale_limit_s(record, config) else None


@dataclass(frozen=True)
class BrokerHearing:
    """How this central process hears one broker now (central/service/broker_session.py)."""

    name: str
    address: str  # host:port
    client_id: str  # this process's session there: who cannot reach it
    listening_since: float | None  # since this connection; None while not connected
    unreachable_since: float | None  # since when not connected; None while connected


def broker_alarm_site(name: str) -> str:
    """The alarm's `site` for a broker's own alarm: no site id has a colon."""
    return f"broker:{name}"


def check_brokers(
    session: StoreSession, now: float, brokers: Sequence[BrokerHearing], config: LivenessConfig
) -> list[str]:
    """A broker this process has not reached for `stale_after_s` raises one
    `broker_unreachable` alarm (per broker and per process's client id, cleared when it
    connects again) instead of one `site_offline` per site on it: what the operator must
    fix is the broker or the way to it, and the sites themselves may be working (offline,
    keeping their events). Its sites are then shown as unknown (online None), not online:
    central cannot say. Returns the names of brokers newly alarmed."""
    alarmed = []
    for broker in brokers:
        alarm_site = broker_alarm_site(broker.name)
        if broker.unreachable_since is None:
            clear_alarm(session, alarm_site, AlarmKind.BROKER_UNREACHABLE, now, broker.client_id)
            continue
        away = now - broker.unreachable_since
        if away < config.stale_after_s:
            continue
        if not raise_alarm(
            session,
            alarm_site,
            AlarmKind.BROKER_UNREACHABLE,
            now,
            ref=broker.client_id,
            detail=f"broker {broker.name} ({broker.address}) unreachable from central "
            f"{broker.client_id} for {_span(away)}: its sites are shown as unknown, not "
            "judged for silence, until it is back",
            source="central liveness check",
        ):
            continue  # already open: the sites were marked when it was raised
        on_it = [s for s in session.list_sites() if s.broker == broker.name]
        for site in on_it:
            if site.online is True:
                session.lock_site(site.site)
                current = session.get_site(site.site)
                if current is not None and current.online is True:
                    session.save_site(dataclasses.replace(current, online=None))
        line = (
            f"broker {broker.name} ({broker.address}) unreachable for {away:.0f} s: "
            f"{len(on_it)} site(s) on it now unknown"
        )
        session.after_commit(functools.partial(log.warning, "%s", line))
        alarmed.append(broker.name)
    return alarmed


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
