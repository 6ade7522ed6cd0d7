"""Faults of the site's own parts (a task, the scanner, the store): raised and cleared.

A fault stands in every snapshot until cleared; clearing one writes a FaultCleared event.
"""

from __future__ import annotations

from edge.site.actions import Action, ClearFault, Emit, PublishState, RaiseFault
from edge.site.state import SiteState
from protocols.limits import fit_text
from protocols.messages import (
    Fault,
    FaultCleared,
    FaultComponent,
    ScannerFault,
    ScannerFaultCode,
)

STORE_CODE = "write_failed"
TASK_CODE = "task_died"


def _fault(component: FaultComponent, ref: str, code: str, detail: str, now: float) -> Fault:
    return Fault(component=component, code=code, ref=ref, since=now, detail=detail)


def _cleared(component: FaultComponent, ref: str, code: str, state: SiteState) -> list[Action]:
    if not state.faults.has(component.value, ref, code):
        return []
    return [
        Emit(FaultCleared(component=component, ref=ref, code=code)),
        ClearFault(component, ref, code),
    ]


def task_fault(name: str, detail: str | None, state: SiteState, now: float) -> list[Action]:
    """A supervised task died (`detail`) or runs again (None). Central sees a death in the
    snapshot: there is no event to write for it."""
    if detail is None:
        return _cleared(FaultComponent.AGENT, name, TASK_CODE, state)
    if state.faults.has(FaultComponent.AGENT.value, name, TASK_CODE):
        return []
    return [RaiseFault(_fault(FaultComponent.AGENT, name, TASK_CODE, detail, now)), PublishState()]


def store_fault(failure: str | None, state: SiteState, now: float) -> list[Action]:
    """The store fault stands while writes fail (`failure`: the store's last error); it is
    cleared once a write proves the store works again (the FaultCleared event is that
    write, tried at each tick)."""
    standing = state.faults.has(FaultComponent.STORE.value, "store", STORE_CODE)
    if failure is not None and not standing:
        fault = _fault(FaultComponent.STORE, "store", STORE_CODE, failure, now)
        return [RaiseFault(fault), PublishState()]  # no event can be written; a snapshot can
    if standing:  # the FaultCleared event is the write that proves it (or fails, and waits)
        return _cleared(FaultComponent.STORE, "store", STORE_CODE, state)
    return []


def scanner_fault(
    code: ScannerFaultCode, faulty: bool, detail: str, state: SiteState, now: float
) -> list[Action]:
    """The scanner reader's fault came (`faulty`) or went."""
    if not faulty:
        return _cleared(FaultComponent.SCANNER, "scanner", code.value, state)
    if state.faults.has(FaultComponent.SCANNER.value, "scanner", code.value):
        return []
    return [
        RaiseFault(_fault(FaultComponent.SCANNER, "scanner", code.value, detail, now)),
        Emit(ScannerFault(fault=code, detail=fit_text(detail))),
    ]
