"""Central's returns desk in the simulated day's central process: the partner asks central
for a consumer's return label, and later confirms the return is back.

In production a partner does both through the partner API (central/partners/returns_api.py);
here the people's side asks over the central process's request queue, and the label goes
back on its reply queue like a pickup code ("code", label, site, text), for the consumer to
show at the site's scanner.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from central.parcels.returns import ReturnError, issue_return, receive_return
from central.service.service import CentralService
from protocols.clock import Clock

log = logging.getLogger(__name__)

PARTNER_SOURCE = "partner sim-returns"
# A partner confirms a return once its courier brought it back: the site's removal event
# may reach central a little after the courier left. Tried this often, this far apart (real
# seconds), then given up (the return stays collected: the verdict shows it).
RECEIVE_TRIES = 120
RECEIVE_EVERY_S = 0.5


class ReturnsDesk:
    """Issues return labels and confirms returns received, in central's process."""

    def __init__(self, central: CentralService, clock: Clock, replies: Any) -> None:
        self._central = central
        self._clock = clock
        self._replies = replies
        self._pending: dict[str, int] = {}  # label -> tries left
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        # A label refused, or a store busy past its own retries: said, not fatal to the day.
        self._refused: tuple[type[Exception], ...] = (ReturnError, *central.store.errors)

    def issue(self, items: list[tuple[str, str, str, str]]) -> None:
        """Issue a label for each (return label, parcel returned, site, size): the consumer
        of the parcel gets it (a "code" reply). A refused one is a progress line."""
        for label, original, site, size in items:
            try:
                with self._central.store.transaction() as session:
                    parcel = session.get_parcel(original)
                    partner = (parcel.partner if parcel else None) or "sim-post"
                    issued = issue_return(
                        session,
                        self._central.signer,
                        label=label,
                        partner=partner,
                        size=size,
                        site=site,
                        now=self._clock.now(),
                        return_of=original,
                        source=PARTNER_SOURCE,
                    )
            except self._refused as exc:
                self._replies.put(("progress", f"return {label} not issued: {exc}"))
                continue
            self._replies.put(("code", label, site, issued.text))

    def received(self, labels: list[str]) -> None:
        """The partner has these returns back: confirmed once central saw them collected."""
        with self._lock:
            for label in labels:
                self._pending[label] = RECEIVE_TRIES
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._confirm, name="returns-received", daemon=True
                )
                self._worker.start()

    def _confirm(self) -> None:
        while True:
            with self._lock:
                labels = list(self._pending)
            if not labels:
                return
            for label in labels:
                try:
                    with self._central.store.transaction() as session:
                        receive_return(
                            session,
                            label,
                            partner=None,
                            source=PARTNER_SOURCE,
                            now=self._clock.now(),
                        )
                    done = True
                except self._refused:
                    done = False  # not collected at central yet (or a busy store): again
                with self._lock:
                    self._pending[label] -= 1
                    if done or self._pending[label] <= 0:
                        if not done:
                            log.warning("return %s never seen collected at central", label)
                        del self._pending[label]
            time.sleep(RECEIVE_EVERY_S)
