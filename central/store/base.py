"""The store interface: what central needs from a database, and nothing of how.

`SqliteStore` fills it for one machine (every writer serialised by BEGIN IMMEDIATE);
`PostgresStore` (central.store.postgres) for several central processes on several machines
(READ COMMITTED transactions; `lock_site`, and `stream` with it, take the site's
advisory lock; `get_parcel` locks the parcel's row). `central.store.open.open_store`
picks one from `store.url`. Business rules never write SQL: they call these methods inside
one `transaction()`, which commits on normal exit and rolls back on error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from central.store.operating import (
    AuditSession,
    AuditView,
    BadgeSession,
    BadgeView,
    DeliverySession,
    DeliveryView,
    MilestoneSession,
    MilestoneView,
    NotificationSession,
    NotificationView,
    PartnerSession,
    PartnerView,
    PromiseSession,
    PromiseView,
    RefusalSession,
    RefusalView,
    ReturnSession,
    ReturnView,
    UserSession,
    UserView,
    WebhookSession,
    WebhookView,
)
from central.store.records import (
    AlarmRecord,
    CodeRecord,
    CodeStatus,
    CommandRecord,
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


class StoreView(
    AuditView,
    BadgeView,
    PartnerView,
    WebhookView,
    UserView,
    RefusalView,
    MilestoneView,
    DeliveryView,
    ReturnView,
    NotificationView,
    PromiseView,
    Protocol,
):
    """What can be read of central's state: the read half of a session, and all a read-only
    snapshot (central.store.read) offers."""

    def get_site(self, site: str) -> SiteRecord | None: ...

    def list_sites(self) -> list[SiteRecord]: ...

    def get_liveness(self, site: str) -> LivenessRecord | None: ...

    def list_liveness(self) -> list[LivenessRecord]: ...

    def list_slots(self, site: str) -> list[SlotRecord]: ...

    def get_slot(self, site: str, slot: str) -> SlotRecord | None: ...

    def free_slots(self, site: str, size: str) -> list[str]:
        """Slots of `size` the site reports free and no held reservation has claimed."""

    def free_slot_counts(self) -> list[tuple[str, str, int]]:
        """(site, size, free and unreserved slots) for every site with any."""

    def has_slots(self, site: str) -> bool:
        """Whether the site ever told central its slots (in a state snapshot)."""

    def held_count(self, site: str, size: str | None = None, unplaced: bool = False) -> int:
        """Held reservations at a site (of one size; only those no slot shows yet)."""

    def slot_state_counts(self) -> list[tuple[str, str, int]]:
        """(site, slot state, count) across the fleet."""

    def stream(self, site: str, epoch: str | None = None) -> StreamCursor:
        """The site's current stream (epoch None), or the newest stream of `epoch`; an unsaved
        cursor (id None) if there is none."""

    def list_streams(self) -> list[StreamCursor]:
        """Every stream of every site, by site and then oldest first (the current one last)."""

    def streams_waiting_since(self, before: float) -> list[StreamCursor]:
        """Streams that have waited for a missing event since `before` or longer."""

    def waiting_events(self, stream: int, after_seq: int, limit: int = 10_000) -> list[StoredEvent]:
        """Received but not yet applied events of a stream, in sequence order."""

    def get_event(self, stream: int, seq: int) -> StoredEvent | None: ...

    def known_event_ids(self, site: str, ids: Iterable[str]) -> set[str]:
        """Those of `ids` central has stored for the site, in any of its streams."""

    def get_parcel(self, label: str) -> ParcelRecord | None: ...

    def read_parcels(self, labels: Iterable[str]) -> dict[str, ParcelRecord]:
        """`labels`' parcels by label, as last committed, with no lock taken or waited for
        (a decision reads its parcel again under its locks)."""
        ...

    def parcels_in_state(
        self, states: Iterable[str], limit: int = 100_000
    ) -> list[ParcelRecord]: ...

    def search_parcels(
        self,
        prefix: str = "",
        state: str | None = None,
        site: str | None = None,
        limit: int = 100,
    ) -> list[ParcelRecord]:
        """Parcels whose label starts with `prefix` (letters and digits only: the caller
        checks), in `state` and at `site` if given, by label, at most `limit`."""

    def courier_loads(self, states: Iterable[str]) -> list[tuple[str, str, int]]:
        """(partner, courier, parcels) of parcels in `states` that have a courier."""

    def parcel_state_counts(self) -> dict[str, int]: ...

    def steps(self, label: str) -> list[StepRecord]: ...

    def held_reservation(self, label: str) -> ReservationRecord | None: ...

    def held_reservations(self, site: str | None = None) -> list[ReservationRecord]: ...

    def held_reservations_until(self, before: float) -> list[ReservationRecord]: ...

    def codes(self, label: str) -> list[CodeRecord]: ...

    def open_tasks(self, kind: str | None = None) -> list[TaskRecord]: ...

    def get_command(self, command_id: str) -> CommandRecord | None: ...

    def commands_to(self, site: str) -> list[CommandRecord]: ...

    def command_accepted(self, site: str, body: str) -> bool:
        """Whether `site` accepted (a reply with ok) a command whose body is exactly `body`
        (the body's JSON as stored)."""
        ...

    def list_alarms(self, include_cleared: bool = False) -> list[AlarmRecord]: ...

    def get_alarm(self, alarm_id: int) -> AlarmRecord | None: ...

    def open_removals(self, site: str | None = None) -> list[RemovalRecord]: ...

    def list_processes(self) -> list[ProcessRecord]:
        """Every central process that ran on this store, the most recently heard first."""


class StoreSession(
    StoreView,
    AuditSession,
    BadgeSession,
    PartnerSession,
    WebhookSession,
    UserSession,
    RefusalSession,
    MilestoneSession,
    DeliverySession,
    ReturnSession,
    NotificationSession,
    PromiseSession,
    Protocol,
):
    """Data access inside one transaction: everything a view reads, and the writes."""

    def save_site(self, record: SiteRecord) -> None: ...

    def save_liveness(self, record: LivenessRecord) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit inside the transaction: on error only its own writes are undone."""

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction has committed; never if it (or the savepoint
        the call was made in) rolls back. For what must not happen twice when a transaction
        is retried: a log line saying an alarm was raised or cleared."""

    def lock_site(self, site: str) -> None:
        """Serialise decisions on one site until the transaction ends: SQLite's BEGIN
        IMMEDIATE already serialises every writer; PostgreSQL takes the site's advisory lock."""

    def lock_sites(self, sites: Iterable[str]) -> None:
        """`lock_site` for each of `sites`, in the one order every process locks in (sorted
        by site id), so two transactions locking overlapping sets never wait in a cycle."""

    def try_lock_site(self, site: str) -> bool:
        """Take the site's lock if no other transaction holds it (True), without waiting
        (False): for a writer that already holds other sites' locks out of sorted order."""

    def save_slot(self, record: SlotRecord) -> None: ...

    def replace_slots(self, site: str, slots: Iterable[SlotRecord]) -> None: ...

    def save_stream(self, cursor: StreamCursor) -> StreamCursor:
        """Insert (id None) or update a stream; returns it with its id. A site has one current
        stream: close the old one (closed_at) before a new one is inserted."""

    def add_events(self, events: Sequence[StoredEvent]) -> None:
        """Store received events; one already stored under its (stream, seq) is left as is."""

    def mark_applied(self, stream: int, seqs: Iterable[int], at: float) -> None: ...

    def save_parcel(self, record: ParcelRecord) -> None: ...

    def claim_parcel(self, label: str, states: Iterable[str]) -> ParcelRecord | None:
        """The parcel if it is in one of `states`, its row held by this transaction (another
        claimant waits, then finds it moved on); None if not."""

    def add_step(self, step: StepRecord) -> None: ...

    def add_reservation(self, record: ReservationRecord) -> ReservationRecord:
        """Hold capacity. StoreConflict if the slot or the parcel already holds one."""

    def set_reservation(
        self, reservation_id: int, status: ReservationStatus, command_id: str | None
    ) -> None: ...

    def end_held_reservation(self, reservation_id: int, status: ReservationStatus) -> bool:
        """Move a held reservation to `status`; False if it is no longer held."""

    def add_code(self, record: CodeRecord) -> None: ...

    def set_code_status(self, code_id: str, status: CodeStatus) -> None: ...

    def add_task(self, task: TaskRecord) -> int: ...

    def add_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Add several tasks at once (no ids returned: one round trip on a server store)."""

    def claim_tasks(
        self, now: float, owner: str, lease_until: float, limit: int = 200
    ) -> list[TaskRecord]:
        """Take due tasks no live process holds; a lease lets another take over after a crash."""

    def finish_task(self, task_id: int, at: float) -> None: ...

    def retry_task(self, task_id: int, due_at: float, error: str) -> None: ...

    def add_command(self, record: CommandRecord) -> None: ...

    def record_reply(
        self, command_id: str, ok: bool, reason: str | None, at: float, detail: str | None
    ) -> bool:
        """Store the first reply to a command; False if the command is unknown or answered."""

    def open_alarm(self, record: AlarmRecord) -> bool:
        """Raise an alarm; False if the same one (site, kind, ref) is already open."""

    def clear_alarms(self, site: str, kind: str, ref: str | None, at: float) -> None:
        """Close open alarms of a kind at a site (one ref, or all refs when ref is None).
        Nothing is returned: a write no one waits for (one round trip per transaction, not
        per call, on a server store)."""

    def ack_alarm(self, alarm_id: int, by: str, at: float, clear: bool) -> bool:
        """Acknowledge an alarm (and close it, if `clear`); False if unknown or acked."""

    def add_removal(self, record: RemovalRecord) -> None: ...

    def finish_removals(self, label: str, at: float) -> None:
        """Mark the parcel's open removals done (nothing returned: a write no one waits for)."""

    def save_process(self, record: ProcessRecord) -> None:
        """Write a central process's row (at start, every tick, at a clean stop)."""


class CentralStore(Protocol):
    """A store of central's state, shared by every central process of a deployment."""

    # The exceptions the store raises for its own failures (the disk, a lock timeout):
    # a caller retries the whole transaction on these, and never blames the data.
    errors: tuple[type[Exception], ...]

    def transaction(self) -> AbstractContextManager[StoreSession]:
        """One atomic unit of work; writers that touch the same rows are serialised."""
        ...

    def close(self) -> None: ...
