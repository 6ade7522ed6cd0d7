"""The shell's hands: record a decision's store changes, apply its state, announce events.

The durability rule (docs/edge.md): a decision's records are committed in one transaction
before anything it decided happens; its state changes apply only once they are (a failed
write leaves the site as it was, so the same input is decided again); then the events are
announced to the uplink and the effects (a lock released, state published) are the caller's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.site.actions import (
    Action,
    DropReturn,
    Emit,
    Expect,
    ForgetExpected,
    ForgetReturn,
    MarkForRemoval,
    MarkReleased,
    Move,
    OpenReturn,
    PublishState,
    Removed,
    RevokeBadge,
    RevokeCode,
    SetReservedFor,
    Shelve,
    StoreChange,
    SweepRemovals,
    Unshelve,
    UseCode,
    events,
    state_changes,
    store_changes,
)
from edge.site.clock_guard import ClockGuard
from edge.site.records import SiteRecords
from edge.site.state import SiteRules, SiteState
from edge.store.sqlite import Store, StoreUnavailable, Transaction
from protocols.messages import EventPayload

log = logging.getLogger(__name__)

Decide = Callable[[SiteRecords], list[Action]]


def record(tx: Transaction, changes: list[StoreChange], now: float) -> None:
    """Write `changes` in `tx`, in order, at `now` (Unix seconds, the site's trusted time)."""
    for change in changes:
        match change:
            case Move(slot, trigger, parcel, opened_by, open_ref):
                tx.move(slot, trigger, now, parcel=parcel, opened_by=opened_by, open_ref=open_ref)
            case SetReservedFor(slot, parcel):
                tx.set_reserved_for(slot, parcel)
            case Expect(parcel, size, slot, until):
                tx.expect(parcel, size, slot, until)
            case ForgetExpected(parcel):
                tx.forget_expected(parcel)
            case UseCode(code_id, parcel):
                tx.use_code(code_id, parcel, now)
            case RevokeCode(code_id, parcel):
                tx.revoke_code(code_id, parcel, now)
            case RevokeBadge(badge_id, until):
                tx.revoke_badge(badge_id, until, now)
            case MarkForRemoval(parcel, reason):
                tx.mark_for_removal(parcel, reason, now)
            case Removed(parcel):
                tx.removed(parcel)
            case Shelve(parcel, courier):
                tx.shelve(parcel, courier, now)
            case Unshelve(parcel):
                tx.unshelve(parcel)
            case OpenReturn(label_id, return_id, label, slot):
                tx.open_return(label_id, return_id, label, slot, now)
            case DropReturn(label_id):
                tx.drop_return(label_id, now)
            case ForgetReturn(label_id):
                tx.forget_return(label_id)
            case MarkReleased(slot):
                tx.mark_released(slot, now)
            case SweepRemovals():
                stale = tx.forget_removals_not_here()
                if stale:
                    log.info("%s stale removal(s) cleared", len(stale))
            case Emit(event):
                tx.emit(event, now)


class ActionRunner:
    """Runs decisions against one site's store and state."""

    def __init__(
        self,
        rules: SiteRules,
        store: Store,
        state: SiteState,
        announce: Callable[[EventPayload], None],
        publish_state: Callable[[], None],
    ) -> None:
        self.rules = rules
        self.store = store
        self.state = state
        self._announce = announce
        self._publish_state = publish_state

    def run(
        self, decide: Decide, now: float, *, atomic: bool = True, keep_state: bool = False
    ) -> list[Action]:
        """Decide, commit the store changes, apply the state changes, announce the events;
        return every action (the caller carries out the remaining effects).

        `atomic`: the decision reads inside the transaction that records it (a scan, a
        command); else it reads first and a transaction opens only if it changes anything
        (a poll's reading, most of which change nothing). `keep_state`: the state changes
        hold even if the store fails (a fault that must stand while the store cannot say so).
        Raises StoreUnavailable (nothing recorded) and whatever `decide` raises (nothing done).
        """
        if not atomic:
            return self.apply(decide(self.store.read()), now, keep_state)
        actions: list[Action] = []
        try:
            with self.store.transaction() as tx:
                actions = decide(tx)
                record(tx, store_changes(actions), now)
        except StoreUnavailable:
            if keep_state:
                self.state.apply_all(state_changes(actions))
            raise
        return self._carry_out(actions)

    def apply(
        self, actions: list[Action], now: float | Callable[[], float], keep_state: bool = False
    ) -> list[Action]:
        """Carry out actions already decided (no reads needed): a transaction opens only if
        they change the store; see `run`. `now` may be the clock's `now`, asked only when
        something is recorded (most polls record nothing)."""
        if not actions:
            return actions  # most polls: nothing decided, nothing to do
        changes = store_changes(actions)
        if changes:
            try:
                with self.store.transaction() as tx:
                    record(tx, changes, now() if callable(now) else now)
            except StoreUnavailable:
                if keep_state:
                    self.state.apply_all(state_changes(actions))
                raise
        return self._carry_out(actions)

    def _carry_out(self, actions: list[Action]) -> list[Action]:
        """After the records committed: the state changes, the events announced, the state
        published if asked."""
        self.state.apply_all(state_changes(actions))
        for event in events(actions):
            self._announce(event)
        if any(isinstance(a, PublishState) for a in actions):
            self._publish_state()
        return actions


@dataclass(frozen=True)
class Core:
    """What every part of the shell shares: the site's rules and state, the runner of its
    actions, the guarded clock, and what to do when the store fails."""

    rules: SiteRules
    state: SiteState
    runner: ActionRunner
    clock: ClockGuard
    store_failed: Callable[[], None]
