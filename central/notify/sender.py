"""Sending due messages: claim, send on the message's channel, record what came of it.

Runs on a thread of its own in `lockernet central run` (a slow SMTP server or provider holds
up nothing else). Nothing is sent in the quiet hours: a message due then (a retry, one queued
by a process with other quiet hours) waits for their end. A claim is a lease: a sender that
dies mid-send leaves the message due again when the lease ends; the SMS provider's
idempotency key and the e-mail's Message-ID are the row's, so the resend is the same message.
A failure is retried after a capped exponential wait with jitter (no sooner than a 429's
Retry-After) until `max_attempts`; a permanent one (a bad number, a refused address) is
given up at once.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from central.notify.config import NotifyConfig
from central.notify.kinds import Channel
from central.notify.quiet import QuietHours
from central.notify.sms import HttpSmsTransport
from central.notify.smtp import SmtpTransport
from central.notify.transports import FolderTransport, SendFailed, Transport
from central.notify.unsubscribe import link_key, unsubscribe_url
from central.store import CentralStore
from central.store.queries.notifications import NotificationRecord
from protocols.backoff import backoff_s
from protocols.clock import Clock

log = logging.getLogger(__name__)

CLAIM_BATCH = 50
# Longer than a batch of sends can take (each transport has its own timeout).
LEASE_S = 600.0


@dataclass(frozen=True)
class RetryPolicy:
    first_s: float = 30.0
    max_s: float = 3600.0
    max_attempts: int = 8


def transports_for(config: NotifyConfig, default_folder: Path) -> dict[str, Transport]:
    """Each channel's transport: its server when configured, else the folder."""
    folder = FolderTransport(config.folder or default_folder)
    unsubscribe: Callable[[str], str] | None = None
    if config.public_url is not None and config.email is not None:
        key, base = link_key(config.link_secret_file), config.public_url
        unsubscribe = functools.partial(unsubscribe_url, base, key)
    return {
        Channel.EMAIL.value: SmtpTransport(config.email, unsubscribe) if config.email else folder,
        Channel.SMS.value: HttpSmsTransport(config.sms) if config.sms else folder,
    }


class NotificationSender:
    """Claims due messages, sends them, records the outcome (see the module)."""

    def __init__(
        self,
        store: CentralStore,
        transports: Mapping[str, Transport],
        *,
        clock: Clock,
        quiet: QuietHours,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.transports = dict(transports)
        self.clock = clock
        self.quiet = quiet
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.sent: Counter[str] = Counter()  # by channel, by this process

    def close(self) -> None:
        for transport in self.transports.values():
            close = getattr(transport, "close", None)
            if close is not None:
                close()

    def run(self, stopping: threading.Event, interval_s: float) -> None:
        """Send what is due every `interval_s` until `stopping` is set."""
        while not stopping.wait(interval_s):
            try:
                while self.run_due() >= CLAIM_BATCH and not stopping.is_set():
                    pass  # a full batch: more may be due at once
            except Exception:
                log.exception("sending notifications failed; trying again in %.1f s", interval_s)

    def run_due(self) -> int:
        """One round: claim up to CLAIM_BATCH due messages, send each, record it. Nothing
        in the quiet hours. Returns how many were claimed."""
        now = self.clock.now()
        if self.quiet.is_quiet(now):
            return 0
        with self.store.transaction() as session:
            claimed = session.claim_notifications(now, now + LEASE_S, CLAIM_BATCH)
        for notification in claimed:
            self._send(notification)
        return len(claimed)

    def _send(self, notification: NotificationRecord) -> None:
        n = notification
        transport = self.transports.get(n.channel)
        ref: str | None = None
        failure: SendFailed | None = None
        if transport is None:
            failure = SendFailed(f"no transport for channel {n.channel!r}", permanent=True)
        else:
            try:
                ref = transport.send(n)
            except SendFailed as exc:
                failure = exc
        now = self.clock.now()
        with self.store.transaction() as session:
            if failure is None:
                session.notification_sent(n.id, now, ref)
            elif failure.permanent or n.attempts + 1 >= self.retry.max_attempts:
                session.notification_failed(n.id, now, str(failure))
            else:
                wait = backoff_s(n.attempts + 1, self.retry.first_s, self.retry.max_s, self.rng)
                wait = max(wait, failure.retry_after_s or 0.0)
                session.notification_retry(n.id, self.quiet.next_allowed(now + wait), str(failure))
        if failure is None:
            self.sent[n.channel] += 1
            log.info("notification %s (%s %s) sent by %s", n.id, n.label, n.message, n.channel)
        else:
            log.warning(
                "notification %s (%s %s by %s): %s", n.id, n.label, n.message, n.channel, failure
            )
