"""Hypothesis strategies for the wire contract: valid values of every message and token."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from protocols import limits
from protocols import messages as m
from protocols.labels import make_s10

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
DIGITS = "0123456789"


def _ids(first: str, rest: str, max_rest: int) -> st.SearchStrategy[str]:
    """An id of one character from `first` and up to `max_rest` from `rest` (fast to draw)."""
    return st.builds(
        lambda a, b: a + b, st.sampled_from(first), st.text(alphabet=rest, max_size=max_rest)
    )


site_ids = _ids(ALNUM, ALNUM + "_-", 31)
slot_ids = _ids(ALNUM, ALNUM + "_.-", 15)
idents = st.text(alphabet=ALNUM + "_.:-", min_size=1, max_size=64)
nonces = st.text(alphabet="0123456789abcdef", min_size=16, max_size=64)
timestamps = st.floats(min_value=0, allow_nan=False, allow_infinity=False)
texts = st.text(max_size=500)
short_texts = st.text(max_size=40)
fault_codes = st.text(max_size=64)
upper2 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)

s10_labels = st.builds(make_s10, upper2, st.integers(0, 99_999_999), upper2)
platform_labels = st.one_of(
    st.text(alphabet=DIGITS, min_size=8, max_size=24).map(lambda d: "LP" + d),
    st.text(alphabet=DIGITS, min_size=10, max_size=30),
)
labels = st.one_of(s10_labels, platform_labels)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


event_payloads: st.SearchStrategy[Any] = st.one_of(
    st.builds(
        m.ParcelDeposited,
        parcel=labels,
        slot=slot_ids,
        courier=idents,
        size=_opt(st.sampled_from(m.SizeClass)),
        reserved=st.booleans(),
    ),
    st.builds(m.ParcelPickedUp, parcel=labels, slot=slot_ids, code_id=nonces),
    st.builds(
        m.ParcelRemoved,
        parcel=labels,
        slot=slot_ids,
        courier=idents,
        reason=st.sampled_from(m.RemovalReason),
    ),
    st.builds(m.DoorOpened, slot=slot_ids, reason=st.sampled_from(m.DoorOpenReason)),
    st.builds(m.DoorClosed, slot=slot_ids, occupied=_opt(st.booleans())),
    st.builds(m.DoorLeftOpen, slot=slot_ids, open_seconds=timestamps),
    st.builds(m.DoorForced, slot=slot_ids),
    st.builds(m.SlotOutOfService, slot=slot_ids, reason=texts, by=idents),
    st.builds(m.SlotBackInService, slot=slot_ids, by=idents),
    st.builds(
        m.LockFault, slot=slot_ids, fault=st.sampled_from(m.SlotFaultCode), detail=_opt(texts)
    ),
    st.builds(
        m.SensorFault, slot=slot_ids, fault=st.sampled_from(m.SlotFaultCode), detail=_opt(texts)
    ),
    st.builds(
        m.BoardFault,
        board=st.integers(0, 31),
        fault=st.sampled_from(m.BoardFaultCode),
        detail=_opt(texts),
    ),
    st.builds(m.ScannerFault, fault=st.sampled_from(m.ScannerFaultCode), detail=_opt(texts)),
    st.builds(
        m.FaultCleared,
        component=st.sampled_from(m.FaultComponent),
        ref=_opt(short_texts),
        code=fault_codes,
    ),
    st.builds(
        m.ScanRefused,
        kind=st.sampled_from(m.ScanKind),
        reason=st.sampled_from(m.ScanRefusal),
        detail=_opt(texts),
    ),
    st.builds(m.ScannerLockedOut, failures=st.integers(min_value=1), until=timestamps),
    st.builds(
        m.RemoteOpenRefused,
        slot=slot_ids,
        command_id=idents,
        opens_in_window=st.integers(min_value=0),
    ),
)

command_bodies: st.SearchStrategy[Any] = st.one_of(
    st.builds(
        m.ReserveSlot,
        parcel=labels,
        size=st.sampled_from(m.SizeClass),
        until=timestamps,
        slot=_opt(slot_ids),
    ),
    st.builds(m.CancelReservation, parcel=labels),
    st.builds(m.OpenSlot, slot=slot_ids, reason=texts),
    st.builds(m.SetSlotService, slot=slot_ids, in_service=st.booleans(), reason=texts),
    st.builds(m.RevokeCode, parcel=labels, code_id=nonces),
    st.builds(m.RunDiagnostics),
    st.builds(m.ResendState, from_seq=_opt(st.integers(min_value=1, max_value=limits.SEQ_MAX))),
    st.builds(
        m.MarkForRemoval,
        parcels=st.lists(labels, min_size=1, max_size=5),
        reason=st.sampled_from(m.RemovalReason),
    ),
)

faults = st.builds(
    m.Fault,
    component=st.sampled_from(m.FaultComponent),
    code=fault_codes,
    ref=_opt(short_texts),
    since=timestamps,
    detail=_opt(texts),
)
slot_snapshots = st.builds(
    m.SlotSnapshot,
    slot=slot_ids,
    size=st.sampled_from(m.SizeClass),
    state=st.sampled_from(m.SlotState),
    door=st.sampled_from(m.DoorState),
    locked=_opt(st.booleans()),
    occupied=_opt(st.booleans()),
    parcel=_opt(labels),
    reserved_for=_opt(labels),
)

commands = st.builds(
    m.Command,
    id=idents,
    site=site_ids,
    issued_at=timestamps,
    expires_at=timestamps,
    nonce=nonces,
    body=command_bodies,
)

messages: dict[str, st.SearchStrategy[Any]] = {
    "site-status": st.builds(
        m.SiteStatus,
        site=site_ids,
        online=st.booleans(),
        boot_id=idents,
        at=timestamps,
        agent_version=_opt(short_texts),
    ),
    "central-status": st.builds(
        m.CentralStatus, online=st.booleans(), boot_id=idents, at=timestamps
    ),
    "state-snapshot": st.builds(
        m.StateSnapshot,
        site=site_ids,
        kind=st.sampled_from(m.SiteKind),
        boot_id=idents,
        at=timestamps,
        last_seq=st.integers(min_value=0, max_value=limits.SEQ_MAX),
        slots=st.lists(slot_snapshots, max_size=4),
        shelf_capacity=_opt(st.integers(min_value=0)),
        shelf_used=_opt(st.integers(min_value=0)),
        faults=st.lists(faults, max_size=3),
        versions=st.dictionaries(st.text(max_size=12), short_texts, max_size=3),
    ),
    "event": st.builds(
        m.Event,
        site=site_ids,
        seq=st.integers(min_value=1, max_value=limits.SEQ_MAX),
        id=idents,
        at=timestamps,
        payload=event_payloads,
    ),
    "signed-command": st.builds(
        m.SignedCommand,
        command=st.text(max_size=200),
        sig=st.binary(min_size=64, max_size=64).map(
            lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
        ),
    ),
    "command": commands,
    "reply": st.builds(
        m.Reply,
        site=site_ids,
        command_id=idents,
        at=timestamps,
        ok=st.booleans(),
        reason=_opt(st.sampled_from(m.ReplyReason)),
        detail=_opt(texts),
        result=_opt(st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
    ),
    "heartbeat": st.builds(
        m.Heartbeat,
        site=site_ids,
        boot_id=idents,
        epoch=_opt(idents),
        at=timestamps,
        last_seq=st.integers(min_value=0, max_value=limits.SEQ_MAX),
        interval_s=st.floats(min_value=0.001, max_value=3600, allow_nan=False),
    ),
}
