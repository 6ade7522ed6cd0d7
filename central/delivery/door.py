"""At the consumer's door: a home parcel goes out for delivery, then is delivered with a proof
or its attempt fails with a reason. What the courier's handheld asks for (central/delivery/
api.py), done in the caller's transaction.

Going out issues the consumer a one-time code (six digits; only its hash is kept) that the
courier types in as the proof of delivery; a photo or a signature reference from the handheld
is the other proof. A failed attempt queues a REDIRECT task: central places the parcel at the
nearest locker or collection point with room, or returns it (central/delivery/redirect.py),
at the end of the window in which the consumer may choose the site (central/delivery/choice.py).
Every attempt carries the handheld's attempt key: a retried call finds its attempt already
made and changes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from central.delivery.errors import BadProof, Incomplete, KeyReused, NotOnRound, WrongState
from central.notify import MessageKind, queue_notification
from central.notify.quiet import DEFAULT_QUIET_HOURS, QuietHours
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.steps import take_step
from central.store import ParcelRecord, StoreSession, TaskRecord
from central.store.queries.deliveries import (
    CourierTokenRecord,
    DeliveryAttemptRecord,
    DeliveryCodeRecord,
)
from central.store.records import TaskKind

CODE_DIGITS = 6
# The consumer's code works for the day of the round (a retry the next day gets a new one).
CODE_VALID_S = 24 * 3600.0
MAX_PROOF_REF = 200


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


class ProofKind(enum.StrEnum):
    CODE = "code"  # the consumer's one-time code
    PHOTO = "photo"  # a reference to the handheld's photo of the parcel at the door
    SIGNATURE = "signature"  # a reference to the consumer's signature on the handheld


class FailReason(enum.StrEnum):
    NOBODY_HOME = "nobody_home"
    ADDRESS_NOT_FOUND = "address_not_found"
    REFUSED = "refused"


_REASON_TEXT = {
    FailReason.NOBODY_HOME: "nobody was home",
    FailReason.ADDRESS_NOT_FOUND: "the address was not found",
    FailReason.REFUSED: "the parcel was refused",
}
ROUND_STATES = (ParcelState.ASSIGNED.value, ParcelState.OUT_FOR_DELIVERY.value)


def courier_source(token: CourierTokenRecord) -> str:
    """The source of a step a handheld reported: which courier, which token."""
    return f"courier {token.courier} handheld {token.token_id}"


@dataclass(frozen=True)
class SentOut:
    """A parcel out for delivery; `code` is the consumer's one-time code (None: it was out
    already, and its code was issued then)."""

    record: ParcelRecord
    code: str | None


def send_out(
    session: StoreSession, token: CourierTokenRecord, labels: list[str], now: float
) -> list[SentOut]:
    """Mark `labels` out for delivery with the token's courier (HAND_TO_COURIER), each with a
    new one-time code for its consumer. A parcel already out with this courier is left as it
    is (a retried call). A home parcel placed without a courier is taken by this one. Raises
    NotOnRound (unknown, not a home delivery, another courier's) or WrongState naming the
    first bad label; the caller's transaction then writes nothing."""
    out: list[SentOut] = []
    for label in labels:
        record = _on_round(session, token, label, allow_unassigned=True)
        if record.state == ParcelState.OUT_FOR_DELIVERY.value:
            out.append(SentOut(record, None))
            continue
        if record.state not in (ParcelState.ASSIGNED.value, ParcelState.ATTEMPT_FAILED.value):
            raise WrongState(f"parcel {label} is {record.state}: it cannot go out for delivery")
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        session.set_delivery_code(
            DeliveryCodeRecord(
                label, _code_hash(label, code), token.courier, now, now + CODE_VALID_S
            )
        )
        updated = take_step(
            session,
            record,
            ParcelStep.HAND_TO_COURIER,
            at=now,
            source=courier_source(token),
            now=now,
            detail=f"out for home delivery with courier {token.courier}",
            courier=token.courier,
            partner=record.partner or token.partner,
        )
        # The consumer's copy of the code, the only plain one (central/notify/queue.py): in
        # this transaction, once per round (a retried call finds the parcel out already).
        queue_notification(
            session,
            updated,
            MessageKind.OUT_FOR_DELIVERY,
            f"round-{now:.3f}",
            now,
            {"door_code": code, "until": now + CODE_VALID_S},
        )
        out.append(SentOut(updated, code))
    return out


@dataclass(frozen=True)
class AttemptAnswer:
    """What an attempt did: the parcel after it, and the attempt as recorded (the first
    one's, for a retried call)."""

    record: ParcelRecord
    attempt: DeliveryAttemptRecord
    repeated: bool


def attempt(
    session: StoreSession,
    token: CourierTokenRecord,
    label: str,
    attempt_key: str,
    now: float,
    *,
    outcome: Outcome,
    proof_kind: ProofKind | None = None,
    proof: str | None = None,
    reason: FailReason | None = None,
    choice_window_s: float = 0.0,
    choice_link: str | None = None,
    quiet: QuietHours = DEFAULT_QUIET_HOURS,
) -> AttemptAnswer:
    """Record an attempt at the door. DELIVERED needs a proof: the consumer's code (checked,
    then forgotten) or a photo/signature reference; FAILED needs a reason, and queues the
    parcel's redirect and the consumer's failed-attempt message. The redirect is due
    `choice_window_s` (s) after the message can first be sent (`choice_ends`: `quiet`, the
    quiet hours, may hold it until the morning), the consumer choosing a site meanwhile through
    `choice_link` (the full URL, told in the message with the window's end, "choose_by",
    Unix s; central/delivery/choice.py); a refused parcel, or no window, is redirected at
    once. A retried call (its `attempt_key` already recorded, for this parcel and outcome)
    answers as the first did and writes nothing. Raises NotOnRound, WrongState, BadProof,
    KeyReused, or Incomplete (no proof, no reason); nothing is written."""
    done = session.delivery_attempt(attempt_key)
    if done is not None:
        if done.label != label or done.outcome != outcome.value or done.courier != token.courier:
            raise KeyReused(
                f"attempt key {attempt_key[:64]!r} was used for parcel {done.label} "
                f"({done.outcome}): use a new key for a new attempt"
            )
        # The attempt is this courier's: the parcel is answered as it is now (redirected to
        # a locker by then, say), whatever round it is on.
        record = session.get_parcel(label)
        assert record is not None, "an attempt's parcel is never deleted"
        return AttemptAnswer(record, done, repeated=True)
    record = _on_round(session, token, label, allow_unassigned=False)
    if record.state != ParcelState.OUT_FOR_DELIVERY.value:
        raise WrongState(
            f"parcel {label} is {record.state}, not out for delivery: mark it out first"
        )
    source = courier_source(token)
    if outcome is Outcome.DELIVERED:
        proof_ref = _check_proof(session, label, proof_kind, proof, now)
        made = DeliveryAttemptRecord(
            label,
            token.courier,
            now,
            outcome.value,
            attempt_key,
            source,
            proof_kind=proof_kind.value if proof_kind else None,
            proof_ref=proof_ref,
        )
        session.add_delivery_attempt(made)
        session.drop_delivery_code(label)
        updated = take_step(
            session,
            record,
            ParcelStep.DELIVER,
            at=now,
            source=source,
            now=now,
            detail=f"delivered at the door by courier {token.courier} (proof: {made.proof_kind})",
        )
        return AttemptAnswer(updated, made, repeated=False)
    if reason is None:
        raise Incomplete("a failed attempt needs a reason: " + ", ".join(FailReason))
    made = DeliveryAttemptRecord(
        label, token.courier, now, outcome.value, attempt_key, source, reason=reason.value
    )
    session.add_delivery_attempt(made)
    session.drop_delivery_code(label)
    updated = take_step(
        session,
        record,
        ParcelStep.FAIL_ATTEMPT,
        at=now,
        source=source,
        now=now,
        detail=f"attempt failed: {_REASON_TEXT[reason]} (courier {token.courier})",
    )
    # A refused parcel goes back to its partner: there is nothing to choose.
    window = choice_window_s if reason is not FailReason.REFUSED else 0.0
    ends = choice_ends(now, window, quiet)
    session.add_tasks(
        [
            TaskRecord(
                TaskKind.REDIRECT,
                ends,
                label=label,
                payload=f'{{"reason": "{reason.value}"}}',
            )
        ]
    )
    facts: dict[str, str | float | None] = {"reason": reason.value, "at": now}
    if window > 0:
        facts["choose_by"] = ends
        if choice_link is not None:
            facts["choice_link"] = choice_link
    queue_notification(session, updated, MessageKind.FAILED_ATTEMPT, attempt_key, now, facts)
    return AttemptAnswer(updated, made, repeated=False)


def choice_ends(at: float, window_s: float, quiet: QuietHours = DEFAULT_QUIET_HOURS) -> float:
    """When the consumer's choice after a failed attempt at `at` (Unix s) closes: `window_s`
    after the failed-attempt message can first be sent. A failure at 22:00 is told at 08:00
    (the quiet hours, `[notify] quiet_hours`); a window counted from 22:00 would have closed
    before the consumer heard of it. `at` itself when there is no window."""
    if window_s <= 0:
        return at
    return quiet.next_allowed(at) + window_s


def _on_round(
    session: StoreSession,
    token: CourierTokenRecord,
    label: str,
    *,
    allow_unassigned: bool,
) -> ParcelRecord:
    """The parcel, in whatever state, held by this transaction, if it is a home delivery of
    the token's courier (or of nobody's yet, when `allow_unassigned`); NotOnRound otherwise."""
    record = session.claim_parcel(label, [s.value for s in ParcelState])
    mine = (
        record is not None
        and record.delivery_mode == "home"
        and (
            record.courier == token.courier
            or (
                allow_unassigned
                and record.courier is None
                and record.partner in (None, token.partner)
            )
        )
    )
    if record is None or not mine:
        raise NotOnRound(f"no parcel {label[:40]} on courier {token.courier}'s round")
    return record


def _check_proof(
    session: StoreSession,
    label: str,
    kind: ProofKind | None,
    proof: str | None,
    now: float,
) -> str | None:
    """The reference to keep for a delivery's proof (None for a code: never stored)."""
    if kind is None or not proof:
        raise Incomplete("a delivery needs a proof: " + ", ".join(ProofKind) + " with its value")
    if kind is not ProofKind.CODE:
        if len(proof) > MAX_PROOF_REF:
            raise Incomplete(f"proof: a {kind} reference of at most {MAX_PROOF_REF} characters")
        return proof
    issued = session.delivery_code(label)
    if issued is None or issued.expires_at <= now:
        raise BadProof(f"parcel {label} has no valid code: mark it out for delivery again")
    if not hmac.compare_digest(_code_hash(label, proof.strip()), issued.code_hash):
        raise BadProof(f"the code given for parcel {label} is not the consumer's")
    return None


def _code_hash(label: str, code: str) -> str:
    return hashlib.sha256(f"{label}|{code}".encode()).hexdigest()
