"""Signed commands to sites, with MQTT 5 message expiry, and replies correlated by command id.

A command is signed with central's Ed25519 key (protocols.commands.sign_command) and
published at QoS 1 with a Message Expiry Interval equal to its own expiry, so a site that is
offline for longer never gets a stale order (and would refuse it anyway: the signed body
carries `expires_at`). Commands that follow from events are queued as durable tasks in the
same transaction as the event (`queue_command`), then sent by whichever process runs them.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from central.errors import CommandFailed
from central.parcels import removals
from central.parcels.tasks import RETRY_FIRST_S, RETRY_MAX_S, TaskKind
from central.sites.alarms import AlarmKind, raise_alarm
from central.store import CentralStore, CommandRecord, StoreSession, TaskRecord
from protocols.clock import Clock
from protocols.commands import DOOR_COMMAND_FRESH_S, DOOR_MOVING, sign_command
from protocols.messages import Command, CommandBody, Reply, ReplyReason, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)

BODY = TypeAdapter[CommandBody](CommandBody)
# A command never lives longer than this at the broker, whatever it is for.
MAX_EXPIRY_S = 14 * 86_400
# Replies that say central itself is misconfigured (wrong key, wrong site): an operator must act.
ALARMING_REFUSALS = frozenset(
    {
        ReplyReason.BAD_SIGNATURE,
        ReplyReason.WRONG_SITE,
        ReplyReason.UNSUPPORTED_VERSION,
        ReplyReason.MALFORMED,
        # A door command delivered too late (an outage held it): someone asked for a door
        # that stayed shut, and the operator should know why.
        ReplyReason.STALE,
    }
)
# Commands central must see answered: a revocation is what keeps an old pickup code from
# opening its door, so until the site has said "done" it is sent again (a fresh command each
# time: the one before may have been refused for the site's clock, or never arrived). The
# first resend comes after this long, then twice as long each time up to the task retry cap.
# A removal order likewise: without it the returns courier is refused at the door, and its
# answer is how central learns which parcels are no longer there (central/parcels/removals.py).
# A badge revocation too: until the site has it, the revoked badge still opens its doors.
MUST_ANSWER = frozenset({"revoke_code", "revoke_badge", "mark_for_removal"})
ANSWER_WAIT_S = 60.0
# Command tasks sent with one transaction to record them and one for their outcomes.
COMMAND_CHUNK = 50
# Commands an operator asked for (central/operator/remote.py): their audit entry follows the
# command, "queued" -> "sent" (naming the command's id) -> "done" or "refused by site: ...".
AUDITED = frozenset({"open_slot", "set_slot_service"})
SENT = "sent"
DONE = "done"
EXPIRED_UNSENT = "not sent: expired waiting"

# publish(topic, payload, expiry_s, broker): returns once the broker has the message (QoS 1).
# `broker` is the name of the broker the site was last heard on (sites.broker), None if it
# was never heard: the publisher sends it on that broker, or on every one it has.
Publish = Callable[[str, bytes, int, str | None], None]


def body_json(body: CommandBody) -> str:
    return body.model_dump_json(exclude_none=True)


def queue_command(
    session: StoreSession,
    site: str,
    body: CommandBody,
    now: float,
    *,
    label: str | None = None,
    expires_at: float | None = None,
) -> int:
    """Queue a command as a durable task, in the caller's transaction."""
    payload = {"body": json.loads(body_json(body)), "expires_at": expires_at}
    return session.add_task(
        TaskRecord(
            TaskKind.SEND_COMMAND,
            now,
            label=label,
            site=site,
            payload=json.dumps(payload, separators=(",", ":")),
        )
    )


@dataclass
class ReplyWaiters:
    """Callers waiting for the reply to a command they sent, by command id."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiting: dict[str, tuple[threading.Event, list[Reply]]] = field(default_factory=dict)

    def expect(self, command_id: str) -> None:
        with self._lock:
            self._waiting[command_id] = (threading.Event(), [])

    def resolve(self, reply: Reply) -> bool:
        with self._lock:
            entry = self._waiting.get(reply.command_id)
        if entry is None:
            return False
        entry[1].append(reply)
        entry[0].set()
        return True

    def wait(self, command_id: str, timeout_s: float) -> Reply | None:
        with self._lock:
            entry = self._waiting.get(command_id)
        if entry is None:
            raise KeyError(command_id)
        try:
            entry[0].wait(timeout_s)
            return entry[1][0] if entry[1] else None
        finally:
            with self._lock:
                self._waiting.pop(command_id, None)


@dataclass
class CommandSender:
    """Builds, signs, records and publishes commands."""

    store: CentralStore
    signer: TokenSigner
    topics: Topics
    clock: Clock
    publish: Publish
    default_expiry_s: int
    waiters: ReplyWaiters = field(default_factory=ReplyWaiters)

    def build(self, site: str, body: CommandBody, expires_at: float | None = None) -> Command:
        now = self.clock.now()
        if expires_at is None or expires_at <= now:
            expires_at = now + self.default_expiry_s
        expires_at = min(expires_at, now + MAX_EXPIRY_S)
        if body.type in DOOR_MOVING:
            # The site obeys a door command only this soon after issue: nor does the broker
            # keep it longer (an hour-old "open" would open the door for nobody).
            expires_at = min(expires_at, now + DOOR_COMMAND_FRESH_S)
        return Command(
            id=uuid.uuid4().hex,
            site=site,
            issued_at=now,
            expires_at=expires_at,
            nonce=secrets.token_hex(16),
            body=body,
        )

    def send(
        self,
        site: str,
        body: CommandBody,
        expires_at: float | None = None,
        *,
        hold_s: float | None = None,
    ) -> Command:
        """Sign, record and publish one command; returns it (its id correlates the reply).
        `hold_s`: how long the broker keeps it for the site, if shorter than its life."""
        command = self.build(site, body, expires_at)
        broker = self._record(command)
        self._publish(command, broker, hold_s)
        return command

    def request(
        self, site: str, body: CommandBody, timeout_s: float, expires_at: float | None = None
    ) -> Reply:
        """Send a command and wait for the site's reply; CommandFailed if none comes in time."""
        command = self.build(site, body, expires_at)
        self.waiters.expect(command.id)
        broker = self._record(command)
        self._publish(command, broker)
        reply = self.waiters.wait(command.id, timeout_s)
        if reply is None:
            raise CommandFailed(
                f"site {site} did not answer {body.type} within {timeout_s:.0f} s "
                "(is it online? lockernet fleet shows its link)"
            )
        return reply

    def _record(self, command: Command) -> str | None:
        """Store the command; returns the broker its site was last heard on."""
        with self.store.transaction() as session:
            return _record(session, command)

    def _publish(self, command: Command, broker: str | None, hold_s: float | None = None) -> None:
        signed = sign_command(self.signer, command)
        life = command.expires_at - command.issued_at
        expiry = max(1, int(life if hold_s is None else min(life, hold_s)))
        topic = self.topics.site(command.site, SiteChannel.COMMANDS)
        self.publish(topic, encode(signed), expiry, broker)

    # ----------------------------------------------------------------- durable tasks

    def run_tasks(self, tasks: list[TaskRecord], now: float) -> None:
        """The SEND_COMMAND task handler, COMMAND_CHUNK tasks to three transactions (the
        tasks read, the commands recorded, the outcomes) rather than three per command."""
        for start in range(0, len(tasks), COMMAND_CHUNK):
            if not self._run_chunk(tasks[start : start + COMMAND_CHUNK], now):
                # The broker did not take a command: the rest wait for the next claim
                # rather than each waiting out the same timeout.
                with self.store.transaction() as session:
                    for task in tasks[start + COMMAND_CHUNK :]:
                        if task.id is not None:
                            session.retry_task(task.id, now + RETRY_FIRST_S, "broker busy")
                return

    def _run_chunk(self, tasks: list[TaskRecord], now: float) -> bool:
        """Send one chunk's commands; False if the broker refused one (those left unsent
        are due again after RETRY_FIRST_S, doubling, like any failed task)."""
        to_send: list[_Due] = []
        with self.store.transaction() as session:
            for task in tasks:
                due = self._due(session, task, now)
                if due is not None:
                    to_send.append(due)
        if not to_send:
            return True
        with self.store.transaction() as session:
            for due in to_send:
                due.command = self.build(due.site, due.body, due.until)
                if due.audit_ref is not None:
                    session.audit_rename_command(due.audit_ref, due.command.id, SENT)
                due.broker = _record(session, due.command)
        failed: str | None = None
        for due in to_send:
            assert due.command is not None
            try:
                self._publish(due.command, due.broker, due.hold_s)
                due.sent = True
            except CommandFailed as exc:
                failed = str(exc)
                break
        with self.store.transaction() as session:
            for due in to_send:
                assert due.command is not None
                self._outcome(session, due, now, failed)
        return failed is None

    def _due(self, session: StoreSession, task: TaskRecord, now: float) -> _Due | None:
        """What a task asks to send now; None (and the task done) for one with nothing to
        send: unreadable, a door order that expired waiting, or a must-answer command the
        site has accepted or whose point has passed."""
        if task.site is None or task.id is None:
            return None
        try:
            data = json.loads(task.payload)
            body = BODY.validate_python(data["body"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            # A task central wrote itself and cannot read: a bug, never retried forever.
            log.error("dropping unreadable command task %s: %s", task.id, exc)
            session.finish_task(task.id, now)
            return None
        until = data.get("expires_at")
        if body.type in DOOR_MOVING and until and now >= until:
            # A door order that waited past its life (central was down, the tasks
            # behind): opening now would open it for nobody who asked.
            log.warning("not sending %s to %s: it expired waiting", body.type, task.site)
            session.finish_task(task.id, now)
            if body.type in AUDITED:
                session.audit_outcome(f"task:{task.id}", EXPIRED_UNSENT)
            return None
        must_answer = body.type in MUST_ANSWER
        if must_answer and (
            session.command_accepted(task.site, body_json(body)) or (until and now >= until)
        ):
            # Done by the site, or moot: the code it revokes has expired, and a site
            # refuses an expired code whatever its clock says (edge.site.clock_guard).
            session.finish_task(task.id, now)
            return None
        wait = min(RETRY_MAX_S, ANSWER_WAIT_S * 2 ** max(0, task.attempts - 1))
        return _Due(
            task_id=task.id,
            attempts=task.attempts,
            site=task.site,
            body=body,
            until=until,
            wait_s=wait if must_answer else None,
            # A resend is held at the broker only until the next one: the first copy waits
            # for an offline site as long as the command lives (the site's session outlives
            # days offline), and a resend held as long waited beside it. Resent every hour,
            # a site back after a day and a half met 40-odd copies of one revocation.
            hold_s=wait if must_answer and task.attempts > 1 else None,
            audit_ref=f"task:{task.id}" if body.type in AUDITED else None,
        )

    @staticmethod
    def _outcome(session: StoreSession, due: _Due, now: float, failed: str | None) -> None:
        """The task after its command was published (or not)."""
        assert due.command is not None
        if not due.sent:
            if due.audit_ref is not None:  # not sent after all: the retry sends another
                session.audit_rename_command(due.command.id, due.audit_ref, "queued")
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, due.attempts - 1))
            session.retry_task(due.task_id, now + delay, failed or "not sent")
        elif due.wait_s is not None:
            session.retry_task(
                due.task_id, now + due.wait_s, f"sent as {due.command.id}; waiting for the answer"
            )
        else:
            session.finish_task(due.task_id, now)


@dataclass
class _Due:
    """A command task's command, from its reading to its outcome."""

    task_id: int
    attempts: int
    site: str
    body: CommandBody
    until: float | None
    wait_s: float | None  # a must-answer command: sent again after this long
    hold_s: float | None
    audit_ref: str | None
    command: Command | None = None
    broker: str | None = None
    sent: bool = False


def _record(session: StoreSession, command: Command) -> str | None:
    """Store the command; returns the broker its site was last heard on."""
    session.add_command(
        CommandRecord(
            id=command.id,
            site=command.site,
            type=command.body.type,
            issued_at=command.issued_at,
            expires_at=command.expires_at,
            body=body_json(command.body),
        )
    )
    known = session.get_site(command.site)
    return known.broker if known is not None else None


def audit_outcome(reply: Reply) -> str:
    """What an operator's command came to at the site, as its audit entry says it."""
    if reply.ok:
        return DONE
    why = " ".join(p for p in (reply.reason.value if reply.reason else "", reply.detail) if p)
    return f"refused by site: {why or 'no reason given'}"


def record_reply(session: StoreSession, reply: Reply, now: float, source: str) -> None:
    """Store a site's reply with its command; a refusal that means misconfiguration alarms."""
    known = session.record_reply(
        reply.command_id,
        reply.ok,
        reply.reason.value if reply.reason else None,
        reply.at,
        reply.detail,
    )
    if known:
        removals.settle_from_reply(session, reply, now)
    command = session.get_command(reply.command_id) if known else None
    if command is not None and command.type in AUDITED:
        session.audit_outcome(reply.command_id, audit_outcome(reply))
    if not known or reply.ok or reply.reason is None:
        return
    if reply.reason in ALARMING_REFUSALS:
        raise_alarm(
            session,
            reply.site,
            AlarmKind.COMMAND_REFUSED,
            now,
            ref=reply.reason.value,
            detail=f"{command.type if command else 'command'} refused: "
            f"{reply.reason.value} {reply.detail or ''}".strip(),
            source=source,
        )
