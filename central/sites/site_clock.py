"""A site whose clock is off learns the time from central (issue 11, kind 3).

A Raspberry Pi has no real-time clock. One that boots at 1970 on a new store (a spare Pi, a
card replaced) has no witnessed time: its clock guard (edge/site/clock_guard.py) has nothing
better than the wall clock, and the site refuses valid courier badges as not yet valid until
a signed command arrives whose `issued_at` it takes as witnessed time. Central must not wait
for an operator to send one. So when central sees that a site's clock is off:

- its live snapshot says `clock_unsure` (the wall clock disagrees with what it witnessed), or
  the snapshot's `at` is further from central's receive time than the clock offset limit (a
  new store at 1970 is not unsure: it has no evidence to disagree with), or
- its heartbeat's smoothed offset is past the limit (central/sites/liveness.py),

central queues a signed ResendState for it at once: harmless (the site republishes its
state, which also shows whether the clock is now right), and its signed issue time is the
evidence the site needs. At most one per `liveness.time_send_interval_s` per site, kept in
the store (every central process hears every snapshot and heartbeat); a retained snapshot the
broker replays is no evidence of the clock now and is not judged.
"""

from __future__ import annotations

import dataclasses
import logging

from central.service.config import LivenessConfig
from central.sites.commands import queue_command
from central.store import LivenessRecord, StoreSession
from protocols.messages import ResendState, StateSnapshot

log = logging.getLogger(__name__)

# How long the signed time may wait at the broker for the site: past the next chance to send
# one it is worth nothing (and a site that reads it later would take an old time as news).
SEND_EXPIRY_INTERVALS = 1.0


def clock_off(snapshot: StateSnapshot, received_at: float, config: LivenessConfig) -> str | None:
    """Why a live snapshot shows its site's clock is off, or None if it does not.
    `received_at`: central's clock when the snapshot arrived (Unix seconds)."""
    if snapshot.clock_unsure:
        return "the site says its clock is unsure"
    offset = snapshot.at - received_at
    if abs(offset) > config.clock_offset_limit_s:
        return f"its state is stamped {offset:+.0f} s from central's clock"
    return None


def judge_snapshot(
    session: StoreSession,
    snapshot: StateSnapshot,
    now: float,
    config: LivenessConfig,
    *,
    received_at: float | None = None,
) -> bool:
    """A live snapshot: send its site the time if its clock is off. Returns True if sent."""
    why = clock_off(snapshot, received_at if received_at is not None else now, config)
    return why is not None and send_time(session, snapshot.site, now, config, why)


def send_time(
    session: StoreSession, site: str, now: float, config: LivenessConfig, why: str
) -> bool:
    """Queue a signed ResendState for `site` (its `issued_at` is the time the site takes in),
    unless one was queued less than `config.time_send_interval_s` ago. In the caller's
    transaction; returns True if queued."""
    record = session.get_liveness(site) or LivenessRecord(site, heard_at=now)
    last = record.time_sent_at
    if last is not None and 0 <= now - last < config.time_send_interval_s:
        return False
    queue_command(
        session,
        site,
        ResendState(),
        now,
        expires_at=now + SEND_EXPIRY_INTERVALS * config.time_send_interval_s,
    )
    session.save_liveness(dataclasses.replace(record, time_sent_at=now))
    log.warning("site %s: %s; sending it central's signed time", site, why)
    return True
