"""The site's heartbeat: a small message every few seconds that says it is alive.

A site's retained "online" is not evidence that it is alive: a broker killed while the site
dies restores that retained message from its persistence file, and the last will that would
have replaced it never fires. Central therefore judges liveness by what it hears, and this
is what it hears when nothing else happens. Each beat also carries the site's newest
written sequence number, so central notices events the broker acknowledged and never
delivered (a broker restart that lost central's shared subscription, a central member that
died holding a share) and asks for them again without waiting for the site's next event,
and the site's clock, so central can track how far off it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from edge.store.sqlite import Store
from protocols.clock import Clock
from protocols.messages import Heartbeat, encode

log = logging.getLogger(__name__)

# The store's meta key the stream's epoch is kept under (created with the store; issue 11
# kind 1). Read, never written, here.
EPOCH_META_KEY = "epoch"


def make_heartbeat(
    site: str, boot_id: str, store: Store, clock: Clock, interval_s: float
) -> Heartbeat:
    """The beat to send now: the stream's epoch (None if the store has none yet), the
    newest written seq, this clock's time (unix seconds) and when the next beat is due."""
    return Heartbeat(
        site=site,
        boot_id=boot_id,
        epoch=store.get_meta(EPOCH_META_KEY),
        at=clock.now(),
        last_seq=store.last_seq(),
        interval_s=interval_s,
    )


async def beat_forever(
    publish: Callable[[bytes], bool],
    make: Callable[[], Heartbeat],
    clock: Clock,
    interval_s: float,
) -> None:
    """Publish `make()` through `publish` every `interval_s` of the clock's time, until
    cancelled. A beat while the link is down is skipped: the reconnect's own status and
    state say the site is back."""
    while True:
        try:
            publish(encode(make()))
        except asyncio.CancelledError:
            raise
        except Exception:
            # One bad beat (a store read that failed) must not end the heartbeat for good:
            # central would call a working site offline.
            log.exception("heartbeat failed; trying again in %.0f s", interval_s)
        await clock.sleep(interval_s)
