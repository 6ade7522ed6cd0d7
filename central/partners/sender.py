"""Sending due webhook deliveries: claim, POST signed, record what came of it.

Runs on a thread of its own in `lockernet central run` (never on ingest's, never on the
timer's: a slow receiver waits out its timeout here and holds up nothing else). Every
central process runs one; a claim (a lease) keeps two from sending one delivery at once.

A 2xx marks a delivery delivered: it is never sent again. Anything else (a refused
connection, a timeout, a 500) is retried after a capped exponential wait with full jitter
from `[api] webhook_retry_first_s`, with the same webhook-id, until
`[api] webhook_max_attempts`; then it is failed and the endpoint gets a `webhook_failing`
alarm, cleared when it next accepts a delivery. Delivery is at least once: a process that
dies after a receiver answered but before its commit leaves the delivery to be sent again
when its lease runs out, so receivers dedupe by webhook-id.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from central.partners.signing import headers
from central.service.config import ApiConfig
from central.sites.alarms import AlarmKind, clear_alarm, raise_alarm
from central.store import CentralStore
from central.store.queries.webhooks import ClaimedDelivery
from protocols.backoff import backoff_s
from protocols.clock import Clock

log = logging.getLogger(__name__)

# Deliveries sent at once by one process: a receiver that waits out its timeout holds one
# of these, not the others' deliveries.
SEND_WORKERS = 8
# Deliveries claimed per round: a few rounds of the workers.
CLAIM_BATCH = 4 * SEND_WORKERS
# The longest wait between two attempts of one delivery, however many failed before.
RETRY_MAX_S = 3600.0
# One attempt takes at most this many timeouts, all told: connecting, sending, the answer's
# status and headers. httpx's timeout is per phase and per read, so a receiver sending its
# answer a byte at a time would hold an attempt (and, waiting on it, every partner's
# deliveries) for as long as it liked: the attempt as a whole is cut off here too.
PHASES_PER_ATTEMPT = 3
# The lease's slack beyond the longest a claimed batch can take (store round trips).
LEASE_SLACK_S = 30.0
# Kept of a receiver's answer in `last_error`.
ERROR_SNIPPET = 200
ALARM_SITE_PREFIX = "partner:"


def alarm_site(partner: str) -> str:
    """The `site` of a partner's webhook_failing alarms."""
    return ALARM_SITE_PREFIX + partner


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: `ok` for a 2xx; else why not, for the operator, and the HTTP
    status if the receiver answered at all."""

    ok: bool
    error: str = ""
    status: int | None = None


def endpoint_host(url: str) -> str:
    """The host (and port) of a webhook URL, for the log: never its path or query, which
    may carry a receiver's token."""
    return urlsplit(url).netloc.rpartition("@")[2] or url[:40]


class WebhookSender:
    """Claims due deliveries, POSTs them signed, records the outcome (see the module)."""

    def __init__(
        self,
        store: CentralStore,
        config: ApiConfig,
        *,
        clock: Clock,
        wall_time: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock  # schedules: due times and leases, as everything central stores
        # The webhook-timestamp header is checked against the receiver's own clock: always
        # the real time, even when central runs on a simulated clock.
        self.wall_time = wall_time
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        rounds = math.ceil(CLAIM_BATCH / SEND_WORKERS)
        self.attempt_limit_s = PHASES_PER_ATTEMPT * config.webhook_timeout_s
        self.lease_s = rounds * self.attempt_limit_s + LEASE_SLACK_S
        # The POSTs of a round run on an event loop of this sender's own (run by whichever
        # thread calls run_due), SEND_WORKERS at a time: an attempt past its limit is
        # cancelled and its connection closed, which a blocking client cannot do.
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            timeout=config.webhook_timeout_s,
            follow_redirects=False,  # a redirect is the receiver's mistake; never re-sent
            limits=httpx.Limits(max_connections=SEND_WORKERS),
        )
        self.sent = 0
        self.failed_attempts = 0
        # Endpoints whose last attempt here failed -> failed attempts since: the log says
        # once that an endpoint fails and once that it recovered, not every attempt.
        self._failing: dict[int, int] = {}

    def close(self) -> None:
        """Close the client's connections and the sender's loop. Run in a thread of its own:
        the caller's thread may be running an event loop of its own (a service stopped from
        async code), where another loop cannot run."""

        def close_loop() -> None:
            self._loop.run_until_complete(self._client.aclose())
            self._loop.close()

        closer = threading.Thread(target=close_loop, name="webhook-sender-close")
        closer.start()
        closer.join()

    def run(self, stopping: threading.Event, interval_s: float) -> None:
        """Send what is due every `interval_s` until `stopping` is set."""
        while not stopping.wait(interval_s):
            try:
                while self.run_due() >= CLAIM_BATCH and not stopping.is_set():
                    pass  # a full batch: more may be due at once
            except Exception:
                log.exception("webhook deliveries failed; trying again in %.1f s", interval_s)

    def run_due(self) -> int:
        """One round: claim up to CLAIM_BATCH due deliveries, send them, record each.
        Returns how many were claimed."""
        now = self.clock.now()
        lease_until = now + self.lease_s
        with self.store.transaction() as session:
            claimed = session.claim_webhook_deliveries(now, lease_until, CLAIM_BATCH)
        if not claimed:
            return 0
        # Started only in the first half of the lease (as due tasks are): past it, another
        # process may soon take the rest over, so they are handed back unsent.
        start_by = now + self.lease_s / 2
        attempts = self._loop.run_until_complete(self._send_round(claimed, start_by))
        self._record(list(zip(claimed, attempts, strict=True)))
        return len(claimed)

    async def _send_round(
        self, claimed: list[ClaimedDelivery], start_by: float
    ) -> list[Attempt | None]:
        workers = asyncio.Semaphore(SEND_WORKERS)

        async def one(delivery: ClaimedDelivery) -> Attempt | None:
            async with workers:
                if self.clock.now() > start_by:
                    return None
                return await self.attempt(delivery)

        return list(await asyncio.gather(*(one(delivery) for delivery in claimed)))

    async def attempt(self, claimed: ClaimedDelivery) -> Attempt:
        """POST one delivery, signed for this attempt's time; cut off after
        `attempt_limit_s` seconds in all, however the receiver paces its answer."""
        try:
            return await asyncio.wait_for(self._post(claimed), self.attempt_limit_s)
        except TimeoutError:
            return Attempt(
                ok=False,
                error=f"AnswerTooSlow to {claimed.url}: no complete answer in "
                f"{self.attempt_limit_s:.0f} s",
            )

    async def _post(self, claimed: ClaimedDelivery) -> Attempt:
        delivery = claimed.delivery
        body = delivery.payload.encode()
        signed = headers(claimed.secret, delivery.message_id, int(self.wall_time()), body)
        try:
            # Streamed, so the answer's body is never read: a 2xx status is all that counts.
            request = self._client.stream("POST", claimed.url, content=body, headers=signed)
            async with request as reply:
                if 200 <= reply.status_code < 300:
                    return Attempt(ok=True)
                return Attempt(
                    ok=False,
                    error=f"HTTP {reply.status_code} from {claimed.url}",
                    status=reply.status_code,
                )
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=f"{type(exc).__name__} to {claimed.url}: {exc}")

    def _record(self, outcomes: list[tuple[ClaimedDelivery, Attempt | None]]) -> None:
        now = self.clock.now()
        with self.store.transaction() as session:
            for claimed, attempt in outcomes:
                delivery = claimed.delivery
                site = alarm_site(claimed.partner)
                ref = str(delivery.endpoint)
                if attempt is None:
                    session.webhook_release(delivery.id, now)
                elif attempt.ok:
                    session.webhook_delivered(delivery.id, now)
                    clear_alarm(session, site, AlarmKind.WEBHOOK_FAILING, now, ref=ref)
                    self.sent += 1
                elif delivery.attempts + 1 >= self.config.webhook_max_attempts:
                    self.failed_attempts += 1
                    session.webhook_failed(delivery.id, now, attempt.error)
                    detail = (
                        f"{claimed.url}: message {delivery.message_id} given up after "
                        f"{delivery.attempts + 1} attempts; last: {attempt.error}"
                    )
                    raise_alarm(
                        session, site, AlarmKind.WEBHOOK_FAILING, now, ref=ref, detail=detail
                    )
                    log.warning("webhook %s", detail[: ERROR_SNIPPET * 2])
                else:
                    self.failed_attempts += 1
                    wait = backoff_s(
                        delivery.attempts + 1,
                        self.config.webhook_retry_first_s,
                        max(RETRY_MAX_S, self.config.webhook_retry_first_s),
                        self.rng,
                    )
                    session.webhook_retry(delivery.id, now + wait, attempt.error)
        for claimed, attempt in outcomes:
            if attempt is not None:
                self._log_streak(claimed, attempt)

    def _log_streak(self, claimed: ClaimedDelivery, attempt: Attempt) -> None:
        """Log an endpoint's first failure after a success (host and what it answered) and
        its first success after failures; the attempts between are counted, not logged."""
        endpoint = claimed.delivery.endpoint
        host = endpoint_host(claimed.url)
        if not attempt.ok:
            failures = self._failing.get(endpoint)
            self._failing[endpoint] = (failures or 0) + 1
            if failures is None:
                answer = (
                    f"HTTP {attempt.status}" if attempt.status else attempt.error.split(" to ")[0]
                )
                log.warning(
                    "webhook endpoint %s of partner %s is failing (%s); retrying with backoff",
                    host,
                    claimed.partner,
                    answer,
                )
        elif endpoint in self._failing:
            failures = self._failing.pop(endpoint)
            log.info(
                "webhook endpoint %s of partner %s recovered after %d failed attempts",
                host,
                claimed.partner,
                failures,
            )
