"""Gaps in a site's stream: asked for again (ResendState), and past the last limit given up
on with an alarm, the events after the gap then applied."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from central.service.config import IngestConfig
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.commands import queue_command
from central.sites.sequencing import Sequencer, SiteRun
from central.store import CentralStore, StoreSession, StreamCursor
from protocols.messages import ResendState

log = logging.getLogger(__name__)


@dataclass
class GapCheck:
    """The periodic look at every stream that waits for a missing event."""

    store: CentralStore
    config: IngestConfig
    sequencer: Sequencer

    def check(self, now: float) -> list[tuple[str, int]]:
        """Ask sites to resend what has been missing for longer than the gap timeout, and
        give up on what has been missing past the last limit. Returns (site, from_seq) of
        the resend requests queued."""
        requested: list[tuple[str, int]] = []
        since = now - self.config.gap_timeout_s
        with self.store.transaction() as session:
            # Another process may check the same streams at the same moment, or apply the
            # missing event meanwhile: each stream is judged as read after its site's lock,
            # so a resend is asked for once and a give-up applies what waited once. The
            # sites are locked in sorted order, as ingest locks them.
            sites = sorted({c.site for c in session.streams_waiting_since(since)})
            session.lock_sites(sites)
            locked = set(sites)
            for cursor in session.streams_waiting_since(since):
                if cursor.site not in locked:
                    continue  # began to wait a moment ago: the next check has it
                assert cursor.gap_since is not None
                # A closed stream's site has moved on to a new one and cannot resend it.
                if now - cursor.gap_since >= self.config.gap_give_up_s or not cursor.current:
                    self._give_up(session, cursor, now)
                    continue
                last = cursor.resend_requested_at
                if last is not None and now - last < self.config.gap_timeout_s:
                    continue
                from_seq = cursor.applied_seq + 1
                queue_command(
                    session,
                    cursor.site,
                    ResendState(from_seq=from_seq),
                    now,
                    expires_at=now + self.config.gap_timeout_s * 4,
                )
                session.save_stream(
                    dataclasses.replace(
                        cursor, resend_requested_at=now, resend_count=cursor.resend_count + 1
                    )
                )
                requested.append((cursor.site, from_seq))
        return requested

    def _give_up(self, session: StoreSession, cursor: StreamCursor, now: float) -> None:
        assert cursor.id is not None
        waiting = session.waiting_events(cursor.id, cursor.applied_seq, limit=1)
        if not waiting:
            self._drop_claim(session, cursor, now)
            return
        first_present = waiting[0].seq
        missing_to = first_present - 1
        raise_alarm(
            session,
            cursor.site,
            AlarmKind.EVENTS_LOST,
            now,
            ref=f"{cursor.epoch}:{cursor.applied_seq + 1}-{missing_to}".lstrip(":"),
            detail=f"events {cursor.applied_seq + 1}..{missing_to} never arrived "
            + (
                f"in {self.config.gap_give_up_s:.0f} s"
                if cursor.current
                else "before the site started a new stream"
            )
            + "; applied what followed",
            source="central gap check",
        )
        log.error(
            "site %s: giving up on events %s..%s", cursor.site, cursor.applied_seq + 1, missing_to
        )
        self.sequencer.advance_stream(
            session, cursor, {}, [], now, careful=True, run=SiteRun(), skip_to=missing_to
        )

    def _drop_claim(self, session: StoreSession, cursor: StreamCursor, now: float) -> None:
        # Nothing after the gap ever arrived: only a heartbeat's last_seq said the events
        # exist, and asked for them again and again the site sent none. Moving the cursor to
        # the claim would make every later event 'late', applied as it comes, never ordered,
        # no gap asked for again: a buggy or hostile heartbeat (last_seq 10**9) blinded the
        # stream for good. So the claim is dropped, not the cursor moved: the site's next
        # events are applied in order from where central is, and a hole before them is a
        # gap like any other. (The cost: events a heartbeat alone showed and the site cannot
        # resend hold the events after them for one more give-up period.)
        claimed = cursor.max_received_seq
        raise_alarm(
            session,
            cursor.site,
            AlarmKind.EVENTS_LOST,
            now,
            ref=f"{cursor.epoch}:{cursor.applied_seq + 1}-claimed".lstrip(":"),
            detail=f"the site's heartbeat said it wrote events up to {claimed}, but none after "
            f"{cursor.applied_seq} arrived, asked for again "
            + (
                f"for {self.config.gap_give_up_s:.0f} s"
                if cursor.current
                else "until the site started a new stream"
            )
            + "; central goes on from its next event",
            source="central gap check",
        )
        log.error(
            "site %s: its heartbeat claimed seq %s, nothing after %s came; claim dropped",
            cursor.site,
            claimed,
            cursor.applied_seq,
        )
        session.save_stream(
            dataclasses.replace(
                cursor,
                max_received_seq=cursor.applied_seq,
                gap_since=None,
                resend_requested_at=None,
            )
        )
