"""What follows a deposit: the consumer's pickup code, a reminder, and the expiry.

These run as durable tasks written when the deposit was applied. Each is safe to repeat:
it first checks the parcel still waits for its consumer. A code is signed and sent to the
consumer before it is recorded, so a crash in between sends a second valid code rather than
none (the consumer may get two messages; both open the door until the expiry).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from central.delivery.redirect import was_redirected
from central.errors import CentralError
from central.notify import MessageKind, queue_notification
from central.notify.code_links import CodeLinks
from central.parcels.lifecycle import WAITING_FOR_CONSUMER, ParcelState, ParcelStep
from central.parcels.pickup_codes import (
    IssuedCode,
    Notifier,
    PickupNotice,
    issue_code,
    make_private_folder,
    pickup_place,
    write_private,
)
from central.parcels.steps import CENTRAL, get, take_step
from central.sites.commands import queue_command
from central.store import (
    CentralStore,
    CodeRecord,
    CodeStatus,
    Contact,
    ParcelRecord,
    RemovalRecord,
    SiteRecord,
    StoreSession,
    TaskRecord,
)
from protocols.limits import REMOVAL_MAX_PARCELS
from protocols.localtime import day_and_time
from protocols.messages import MarkForRemoval, RemovalReason, RevokeCode, SiteKind
from protocols.tokens import TokenSigner

log = logging.getLogger(__name__)

# Follow-up tasks (codes, reminders) done in one transaction pair. The chunk's sites are
# locked together while it is written, once: each lock wait can be an ingest batch's length
# (a batch holds every site it writes about), so a chunk is as large as it can be while its
# write (a few ms a parcel) still holds those sites' ingest up for no more than a batch does.
FOLLOW_UP_CHUNK = 100


@dataclass(frozen=True)
class Reminder:
    """The "your parcel is waiting" message: no code in it (the consumer has the code)."""

    parcel: str
    site: str
    site_name: str
    expires_at: float
    consumer_name: str | None
    consumer_email: str | None
    consumer_phone: str | None
    site_kind: SiteKind = SiteKind.LOCKER


class ReminderSender(Protocol):
    def remind(self, reminder: Reminder) -> None: ...


class FolderReminders:
    """The default: writes `<label>.reminder.txt` next to the folder notifier's messages
    (0600, like them: the message names the consumer)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def remind(self, reminder: Reminder) -> None:
        make_private_folder(self.folder)
        until = day_and_time(reminder.expires_at)
        greeting = f"Hello {reminder.consumer_name}," if reminder.consumer_name else "Hello,"
        place = pickup_place(reminder.site_kind, reminder.site_name, reminder.site)
        text = (
            f"{greeting}\n\nYour parcel {reminder.parcel} is still waiting at {place}.\n"
            f"Please collect it before {until} with the code we sent you. After that it is "
            "sent back.\n"
        )
        write_private(self.folder / f"{reminder.parcel}.reminder.txt", text.encode("utf-8"))


def _contact(record: ParcelRecord) -> Contact:
    return record.contact or Contact()


def _kind(site: SiteRecord | None) -> SiteKind:
    # A site heard from before the network file named it has no kind yet: most are lockers.
    return site.kind if site is not None and site.kind is not None else SiteKind.LOCKER


class NotWaiting(CentralError):
    """A parcel that is not in a slot waiting for its consumer (no code can open it)."""


@dataclass
class PickupFollowUps:
    store: CentralStore
    signer: TokenSigner
    notifier: Notifier
    reminders: ReminderSender
    # [notify] public_url's code page links, for consumers with no e-mail (None: no link).
    links: CodeLinks | None = None

    # ------------------------------------------------------------------------- codes

    def issue_codes(self, tasks: list[TaskRecord], now: float) -> None:
        """The ISSUE_CODE task handler, FOLLOW_UP_CHUNK tasks to a transaction pair."""
        for start in range(0, len(tasks), FOLLOW_UP_CHUNK):
            self._issue_chunk(tasks[start : start + FOLLOW_UP_CHUNK], now)

    def _issue_chunk(self, tasks: list[TaskRecord], now: float) -> None:
        due = self._still_due(
            tasks, now, lambda task, record: _waiting(record) and record.site == task.site
        )
        issued_codes: list[IssuedCode] = []
        for _, record, site in due:
            issued = self._issue(record)
            contact = _contact(record)
            self.notifier.notify(
                PickupNotice(
                    issued=issued,
                    site_name=(site.name if site and site.name else issued.site),
                    site_kind=_kind(site),
                    consumer_name=contact.name,
                    consumer_email=contact.email,
                    consumer_phone=contact.phone,
                )
            )
            issued_codes.append(issued)
        if not due:
            return
        with self.store.transaction() as session:
            session.lock_sites(task.site for task, _, _ in due if task.site is not None)
            for (task, _, site), issued in zip(due, issued_codes, strict=True):
                assert task.id is not None and task.label is not None
                self._recorded_and_queued(session, task.label, site, issued, now)
                session.finish_task(task.id, now)

    def _still_due(
        self,
        tasks: list[TaskRecord],
        now: float,
        wanted: Callable[[TaskRecord, ParcelRecord], bool],
    ) -> list[tuple[TaskRecord, ParcelRecord, SiteRecord | None]]:
        """The tasks whose parcel is still as `wanted`, each with its parcel and site; the
        others are done (nothing to follow up). A look without locks: the message is made
        from what was committed, and the step is decided under the sites' locks after. A
        lock per task waited out an ingest batch (which holds every site it writes about)
        once per task."""
        due: list[tuple[TaskRecord, ParcelRecord, SiteRecord | None]] = []
        with self.store.transaction() as session:
            parcels = session.read_parcels(task.label for task in tasks if task.label)
            for task in tasks:
                assert task.id is not None and task.label is not None
                record = parcels.get(task.label)
                if record is None or not wanted(task, record):
                    session.finish_task(task.id, now)
                    continue
                due.append((task, record, session.get_site(record.site) if record.site else None))
        return due

    def _recorded_and_queued(
        self,
        session: StoreSession,
        label: str,
        site: SiteRecord | None,
        issued: IssuedCode,
        now: float,
    ) -> None:
        """Record a code sent to the consumer and, if the parcel still waits, its step and
        the consumer's e-mail and SMS (once per code: a retried task queues nothing more)."""
        self._record(session, issued, now)
        current = get(session, label)
        if not _waiting(current):
            return
        take_step(
            session,
            current,
            ParcelStep.NOTIFY,
            at=now,
            source=CENTRAL,
            now=now,
            detail="pickup code sent to the consumer",
        )
        queue_notification(
            session,
            current,
            # A parcel redirected after a failed home delivery: the redirect's.
            MessageKind.REDIRECT
            if was_redirected(session, current.label)
            else MessageKind.READY_FOR_PICKUP,
            issued.code_id,
            now,
            _place_facts(site, issued.site, issued.expires_at, issued.short_form)
            | {"code": issued.text, "code_id": issued.code_id},
            links=self.links,
        )

    def reissue(self, label: str, now: float, by: str) -> IssuedCode:
        """A new code for a waiting parcel; every older active code is revoked at the site."""
        with self.store.transaction() as session:
            record = get(session, label)
            if not _waiting(record):
                raise NotWaiting(
                    f"parcel {label} is {record.state or 'unknown'}, not waiting for pickup: "
                    "no code can open it"
                )
            issued = self._issue(record)
            revoked = 0
            for code in session.codes(label):
                if code.status != CodeStatus.ACTIVE:
                    continue
                session.set_code_status(code.code_id, CodeStatus.REVOKED)
                queue_command(
                    session,
                    code.site,
                    RevokeCode(parcel=label, code_id=code.code_id),
                    now,
                    label=label,
                    # The revocation must reach the site for as long as the old code works.
                    expires_at=max(code.expires_at, now + 60),
                )
                revoked += 1
            self._record(session, issued, now)
            take_step(
                session,
                record,
                ParcelStep.NOTIFY,
                at=now,
                source=by,
                now=now,
                detail=f"pickup code reissued; {revoked} older code(s) revoked",
            )
            # The consumer's new code (with its QR), once per code; the message says the
            # old one no longer works.
            queue_notification(
                session,
                record,
                MessageKind.CODE_REISSUED,
                issued.code_id,
                now,
                _place_facts(
                    session.get_site(issued.site), issued.site, issued.expires_at, issued.short_form
                )
                | {"code": issued.text, "code_id": issued.code_id},
                links=self.links,
            )
        return issued

    def _issue(self, record: ParcelRecord) -> IssuedCode:
        assert record.site is not None and record.pickup_expires_at is not None
        return issue_code(self.signer, record.site, record.label, record.pickup_expires_at)

    @staticmethod
    def _record(session: StoreSession, issued: IssuedCode, now: float) -> None:
        session.add_code(
            CodeRecord(
                code_id=issued.code_id,
                label=issued.parcel,
                site=issued.site,
                short_form=issued.short_form,
                issued_at=now,
                expires_at=issued.expires_at,
            )
        )

    # ---------------------------------------------------------------------- reminders

    def remind(self, tasks: list[TaskRecord], now: float) -> None:
        """The REMIND task handler, FOLLOW_UP_CHUNK tasks to a transaction pair."""
        for start in range(0, len(tasks), FOLLOW_UP_CHUNK):
            self._remind_chunk(tasks[start : start + FOLLOW_UP_CHUNK], now)

    def _remind_chunk(self, tasks: list[TaskRecord], now: float) -> None:
        due = self._still_due(
            tasks, now, lambda _, record: record.state == ParcelState.READY_FOR_PICKUP.value
        )
        for _, record, site in due:
            assert record.site is not None and record.pickup_expires_at is not None
            contact = _contact(record)
            self.reminders.remind(
                Reminder(
                    parcel=record.label,
                    site=record.site,
                    site_name=site.name if site and site.name else record.site,
                    site_kind=_kind(site),
                    expires_at=record.pickup_expires_at,
                    consumer_name=contact.name,
                    consumer_email=contact.email,
                    consumer_phone=contact.phone,
                )
            )
        if not due:
            return
        with self.store.transaction() as session:
            # Under the sites' locks and each parcel's claim: a pickup applied meanwhile,
            # or another process's run of the same reminder, is seen, not overwritten.
            session.lock_sites(task.site for task, _, _ in due if task.site is not None)
            for task, record, site in due:
                assert task.id is not None and task.label is not None
                current = session.claim_parcel(task.label, [ParcelState.READY_FOR_PICKUP.value])
                if current is not None:
                    take_step(
                        session,
                        current,
                        ParcelStep.REMIND,
                        at=now,
                        source=CENTRAL,
                        now=now,
                        detail="reminder sent to the consumer",
                    )
                    queue_notification(
                        session,
                        current,
                        MessageKind.REMINDER,
                        f"reminder-{task.id}",
                        now,
                        _place_facts(site, record.site or "", record.pickup_expires_at, None),
                    )
                session.finish_task(task.id, now)

    # ------------------------------------------------------------------------ expiry

    def expire(self, tasks: list[TaskRecord], now: float) -> None:
        """The EXPIRE task handler: expired parcels are marked for removal, one command per
        site, and each gets a removal task for a courier."""
        with self.store.transaction() as session:
            # The sites' locks in sorted order (as ingest takes them), then each parcel
            # claimed while still waiting: a pickup applied meanwhile, or another process
            # expiring the same parcel, is seen; a parcel is expired once.
            session.lock_sites(t.site for t in tasks if t.site is not None)
            per_site: dict[str, list[str]] = defaultdict(list)
            for task in tasks:
                assert task.id is not None and task.label is not None
                record = session.claim_parcel(task.label, [s.value for s in WAITING_FOR_CONSUMER])
                due = record is not None and (record.pickup_expires_at or 0) <= now
                if record is None or not _waiting(record) or not due or record.site is None:
                    session.finish_task(task.id, now)
                    continue
                take_step(
                    session,
                    record,
                    ParcelStep.EXPIRE,
                    at=now,
                    source=CENTRAL,
                    now=now,
                    detail="not collected in the pickup window; a courier will remove it",
                )
                queue_notification(
                    session,
                    record,
                    MessageKind.EXPIRY,
                    f"expiry-{task.id}",
                    now,
                    _place_facts(session.get_site(record.site), record.site, None, None),
                )
                session.add_removal(
                    RemovalRecord(
                        label=record.label,
                        site=record.site,
                        slot=record.slot,
                        reason=RemovalReason.EXPIRED.value,
                        created_at=now,
                    )
                )
                per_site[record.site].append(record.label)
                session.finish_task(task.id, now)
            for site, labels in per_site.items():
                for start in range(0, len(labels), REMOVAL_MAX_PARCELS):
                    chunk = labels[start : start + REMOVAL_MAX_PARCELS]
                    queue_command(
                        session,
                        site,
                        MarkForRemoval(parcels=chunk, reason=RemovalReason.EXPIRED),
                        now,
                    )
                log.info("site %s: %s parcel(s) expired and marked for removal", site, len(labels))


def _place_facts(
    site: SiteRecord | None, site_id: str, until: float | None, short_form: str | None
) -> dict[str, str | float | None]:
    """The facts a consumer's message about a waiting parcel names (central.notify)."""
    return {
        "site": site_id,
        "site_name": site.name if site is not None and site.name else site_id,
        "site_kind": _kind(site).value,
        "until": until,
        "short_form": short_form,
    }


def _waiting(record: ParcelRecord) -> bool:
    return record.state in {s.value for s in WAITING_FOR_CONSUMER}
