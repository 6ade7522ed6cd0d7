"""An in-memory twin of the site's records, for the decisions' unit tests (no SQLite).

`SiteTwin` answers what edge.site.records.SiteRecords asks, and `carry_out` applies a
decision's store changes the way edge/agent/runner.py does on the real store (moves through
the same transition table), then its state changes: so a flow's steps can follow each other
on a manual clock without a broker, a pty or a database.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

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
    Removed,
    RevokeBadge,
    RevokeCode,
    SetReservedFor,
    Shelve,
    SweepRemovals,
    Unshelve,
    UseCode,
    events,
    state_changes,
    store_changes,
)
from edge.site.lockout import LockoutPolicy, ScanLockout
from edge.site.records import Expected, ReturnDrop, SlotRecord
from edge.site.slots import next_state
from edge.site.state import SiteRules, SiteState, SlotPlace
from protocols.messages import EventPayload, SiteKind, SizeClass, SlotState

SITE = "L0001"


def rules(kind: SiteKind = SiteKind.LOCKER, **limits: float) -> SiteRules:
    """Four slots on board 0 (A01 S, A02 M, A03 L, A04 XL); a counter has 2 shelf places."""
    sizes = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]
    places = {f"A0{i}": SlotPlace(f"A0{i}", 0, i, size) for i, size in enumerate(sizes, 1)}
    return SiteRules(
        site=SITE,
        kind=kind,
        slots=places if kind is SiteKind.LOCKER else {},
        shelf_capacity=2,
        **limits,  # type: ignore[arg-type]
    )


def state() -> SiteState:
    return SiteState(ScanLockout(LockoutPolicy(3, 60.0, 300.0, 2.5)))


@dataclass
class SiteTwin:
    """The site's records in dictionaries, and the events written, in order."""

    slots_: dict[str, SlotRecord] = field(default_factory=dict)
    expected_: dict[str, Expected] = field(default_factory=dict)
    removals: dict[str, str] = field(default_factory=dict)
    used: dict[str, tuple[str, float]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    revoked_badges: dict[str, float] = field(default_factory=dict)
    shelf: dict[str, str] = field(default_factory=dict)
    returns: dict[str, ReturnDrop] = field(default_factory=dict)
    written: list[EventPayload] = field(default_factory=list)

    @classmethod
    def of(cls, site_rules: SiteRules) -> SiteTwin:
        twin = cls()
        for place in site_rules.slots.values():
            twin.slots_[place.id] = SlotRecord(
                place.id, place.size, SlotState.FREE, None, None, None, None, None
            )
        return twin

    # ---------------------------------------------------------------- SiteRecords
    def slot(self, slot_id: str) -> SlotRecord:
        return self.slots_[slot_id]

    def slots(self) -> list[SlotRecord]:
        return [self.slots_[k] for k in sorted(self.slots_)]

    def slot_holding(self, parcel: str) -> SlotRecord | None:
        return next((s for s in self.slots() if s.parcel == parcel), None)

    def expected(self, parcel: str) -> Expected | None:
        return self.expected_.get(parcel)

    def lapsed(self, now: float) -> list[Expected]:
        return [e for e in self.expected_.values() if e.until <= now]

    def removal_reason(self, parcel: str) -> str | None:
        return self.removals.get(parcel)

    def parcel_here(self, parcel: str) -> bool:
        return (
            self.slot_holding(parcel) is not None
            or parcel in self.shelf
            or parcel in self.expected_
        )

    def code_used(self, code_id: str) -> bool:
        return code_id in self.used

    def code_revoked(self, code_id: str) -> bool:
        return code_id in self.revoked

    def badge_revoked(self, badge_id: str) -> bool:
        return badge_id in self.revoked_badges

    def picked_up_at(self, parcel: str) -> float | None:
        times = [at for p, at in self.used.values() if p == parcel]
        return max(times) if times else None

    def shelved(self) -> int:
        return len(self.shelf)

    def on_shelf(self, parcel: str) -> bool:
        return parcel in self.shelf

    def return_drop(self, label_id: str) -> ReturnDrop | None:
        return self.returns.get(label_id)

    # ------------------------------------------------------------------ the writes
    def put(self, slot_id: str, **changes: object) -> None:
        """Set a slot's record directly (a test's starting point)."""
        self.slots_[slot_id] = dataclasses.replace(self.slots_[slot_id], **changes)  # type: ignore[arg-type]

    def record(self, actions: list[Action], now: float) -> None:
        """The store changes, as edge.store.sqlite.Transaction makes them."""
        for change in store_changes(actions):
            match change:
                case Move(slot, trigger, parcel, opened_by, open_ref):
                    current = self.slots_[slot]
                    target = next_state(current.state, trigger)
                    opening = target.value.startswith("open_for")
                    self.slots_[slot] = dataclasses.replace(
                        current,
                        state=target,
                        parcel=current.parcel if parcel is False else parcel,  # type: ignore[arg-type]
                        opened_at=now if opening else None,
                        opened_by=opened_by if opening else None,
                        open_ref=open_ref if opening else None,
                        released_at=None,
                    )
                case SetReservedFor(slot, parcel):
                    self.put(slot, reserved_for=parcel)
                case Expect(parcel, size, slot, until):
                    self.expected_[parcel] = Expected(parcel, size, slot, until)
                case ForgetExpected(parcel):
                    self.expected_.pop(parcel, None)
                case UseCode(code_id, parcel):
                    self.used[code_id] = (parcel, now)
                case RevokeCode(code_id, _parcel):
                    self.revoked.add(code_id)
                case RevokeBadge(badge_id, until):
                    self.revoked_badges[badge_id] = until
                case MarkForRemoval(parcel, reason):
                    self.removals[parcel] = reason
                case Removed(parcel):
                    self.removals.pop(parcel, None)
                case Shelve(parcel, courier):
                    self.shelf[parcel] = courier
                case Unshelve(parcel):
                    self.shelf.pop(parcel, None)
                case OpenReturn(label_id, return_id, label, slot):
                    self.returns[label_id] = ReturnDrop(label_id, return_id, label, slot, None)
                case DropReturn(label_id):
                    self.returns[label_id] = dataclasses.replace(
                        self.returns[label_id], dropped_at=now
                    )
                case ForgetReturn(label_id):
                    if self.returns[label_id].dropped_at is None:
                        del self.returns[label_id]
                case MarkReleased(slot):
                    self.put(slot, released_at=now)
                case SweepRemovals():
                    for parcel in [p for p in self.removals if not self.parcel_here(p)]:
                        del self.removals[parcel]
                case Emit(event):
                    self.written.append(event)

    def carry_out(self, actions: list[Action], site_state: SiteState, now: float) -> None:
        """Record the store changes, then apply the state changes (the runner's order)."""
        self.record(actions, now)
        site_state.apply_all(state_changes(actions))

    def types(self) -> list[str]:
        return [e.type for e in self.written]


def types_of(actions: list[Action]) -> list[str]:
    """The types of the events the actions write, in order."""
    return [e.type for e in events(actions)]
