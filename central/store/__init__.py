"""Central's persistent state behind one interface (`CentralStore`)."""

from central.store.base import CentralStore, StoreSession, StoreView
from central.store.records import (
    AlarmRecord,
    CodeRecord,
    CodeStatus,
    CommandRecord,
    Contact,
    LivenessRecord,
    ParcelRecord,
    ProcessRecord,
    RemovalRecord,
    ReservationRecord,
    ReservationStatus,
    SiteRecord,
    SlotRecord,
    StepRecord,
    StoredEvent,
    StreamCursor,
    TaskRecord,
)
from central.store.sqlite import SqliteStore

__all__ = [
    "AlarmRecord",
    "CentralStore",
    "CodeRecord",
    "CodeStatus",
    "CommandRecord",
    "Contact",
    "LivenessRecord",
    "ParcelRecord",
    "ProcessRecord",
    "RemovalRecord",
    "ReservationRecord",
    "ReservationStatus",
    "SiteRecord",
    "SlotRecord",
    "SqliteStore",
    "StepRecord",
    "StoreSession",
    "StoreView",
    "StoredEvent",
    "StreamCursor",
    "TaskRecord",
]
