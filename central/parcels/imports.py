"""The one log line a manifest import leaves: how many parcels it announced, how many central
already knew, how many it placed, and who sent it (an operator's login from the CLI, a
partner's id through the partner API). The line an operator follows in the log when a
partner asks "did our file arrive?"."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def log_import(*, by: str, source: str, new: int, known: int, placed: int | None) -> None:
    """Log one INFO line for an import by `by` (e.g. "operator alice", "partner ninja")
    from `source` (a file name, "the partner API"); `placed` None: central's timer places
    the new parcels later."""
    where = (
        f"{placed} placed"
        if placed is not None
        else "placed by central's timer (service.replace_after_s)"
    )
    log.info("manifest from %s (%s): %d new, %d already known, %s", by, source, new, known, where)
