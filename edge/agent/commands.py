"""Central's commands at the shell: decode, verify, refuse the stale and the replayed, carry
out (decisions: edge/site/commands.py), reply. A reply is always sent."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from edge.agent.runner import Core
from edge.errors import HardwareError
from edge.site import commands
from edge.site.actions import CommandRefused, Unlock
from edge.store.sqlite import StoreUnavailable
from protocols.commands import verify_command
from protocols.errors import MessageError, RefusalReason, TokenRefused, UnsupportedSchemaVersion
from protocols.limits import IDENT_PATTERN, fit_text
from protocols.messages import (
    Command,
    OpenSlot,
    Reply,
    ReplyReason,
    ResendState,
    RunDiagnostics,
    SignedCommand,
    decode,
    encode,
)
from protocols.tokens import TokenVerifier

log = logging.getLogger(__name__)

_IDENT = re.compile(IDENT_PATTERN)  # protocols.messages.Ident
REPLY_FOR_TOKEN = {
    RefusalReason.MALFORMED: ReplyReason.MALFORMED,
    RefusalReason.BAD_SIGNATURE: ReplyReason.BAD_SIGNATURE,
    RefusalReason.WRONG_KIND: ReplyReason.MALFORMED,
    RefusalReason.WRONG_SITE: ReplyReason.WRONG_SITE,
    RefusalReason.EXPIRED: ReplyReason.EXPIRED,
    RefusalReason.NOT_YET_VALID: ReplyReason.NOT_YET_VALID,
}


def claimed_id(command_text: str) -> str:
    """The id a command that failed verification claims, if it looks like one."""
    try:
        claimed = json.loads(command_text).get("id")
    except (ValueError, AttributeError, RecursionError):
        return "unknown"
    if isinstance(claimed, str) and _IDENT.fullmatch(claimed):
        return claimed
    return "unknown"


class CommandDesk:
    """Answers the site's commands topic."""

    def __init__(
        self,
        core: Core,
        verifier: TokenVerifier,
        unlock: Callable[[Unlock], Awaitable[bool]],
        send_reply: Callable[[bytes], None],
    ) -> None:
        self.rules = core.rules
        self.state = core.state
        self.runner = core.runner
        self.clock = core.clock
        self.verifier = verifier
        self._unlock = unlock
        self._send_reply = send_reply
        self._store_failed = core.store_failed
        # Commands the shell answers itself (they ask it for what it has).
        self.diagnostics: Callable[[], Awaitable[dict[str, Any]]] | None = None
        self.resend_state: Callable[[int | None], dict[str, Any]] | None = None

    async def handle(self, payload: bytes) -> None:
        """A message on the commands topic: verify it, act, reply. Never raises."""
        command_id = "unknown"
        try:
            command = self._verify(payload)
            command_id = command.id
            commands.check_fresh(command, self.clock.now())
            with self.runner.store.transaction() as tx:
                fresh = tx.remember_command(command.nonce, command.id, command.expires_at)
            if not fresh:
                raise CommandRefused(ReplyReason.REPLAYED, "this command was already received")
            result = await self._execute(command)
            self._reply(command_id, True, result=result)
        except _Unverified as unverified:
            self._refused(unverified.command_id, unverified.refusal)
        except CommandRefused as refusal:
            self._refused(command_id, refusal)
        except HardwareError as exc:
            self._reply(command_id, False, ReplyReason.HARDWARE_FAULT, str(exc))
        except StoreUnavailable as exc:  # nothing was recorded, so nothing moved
            self._store_failed()
            self._reply(command_id, False, ReplyReason.HARDWARE_FAULT, str(exc))

    def _verify(self, payload: bytes) -> Command:
        now = self.clock.now()
        try:
            signed = decode(SignedCommand, payload)
        except UnsupportedSchemaVersion as exc:
            raise CommandRefused(ReplyReason.UNSUPPORTED_VERSION, str(exc)) from None
        except MessageError as exc:
            raise CommandRefused(ReplyReason.MALFORMED, str(exc)) from None
        try:
            # Central's signed issue time is evidence of the time: witness it first.
            return verify_command(
                self.verifier, signed, self.rules.site, now, witness=self.clock.witness
            )
        except TokenRefused as exc:
            # Answer with the id the command claims, so central can match the refusal; a
            # refusal acts on nothing, so an unverified id is safe to echo.
            refusal = CommandRefused(REPLY_FOR_TOKEN[exc.reason], exc.detail)
            raise _Unverified(claimed_id(signed.command), refusal) from None
        except MessageError as exc:
            raise CommandRefused(ReplyReason.UNSUPPORTED_VERSION, str(exc)) from None

    async def _execute(self, command: Command) -> dict[str, Any] | None:
        body = command.body
        if isinstance(body, RunDiagnostics) and self.diagnostics is not None:
            return await self.diagnostics()
        if isinstance(body, ResendState) and self.resend_state is not None:
            return self.resend_state(body.from_seq)
        now, now_m = self.clock.now(), self.clock.monotonic()
        result: dict[str, Any] | None = None

        def decide(records: Any) -> list[Any]:
            nonlocal result
            actions, result = commands.decide(
                command, rules=self.rules, state=self.state, records=records, now=now, now_m=now_m
            )
            return actions

        actions = self.runner.run(decide, now)
        for action in actions:
            if isinstance(action, Unlock) and not await self._unlock(action):
                raise CommandRefused(ReplyReason.HARDWARE_FAULT, "the lock did not release")
        if isinstance(body, OpenSlot):
            return None
        return result

    def _refused(self, command_id: str, refusal: CommandRefused) -> None:
        log.info("site %s: command %s refused: %s", self.rules.site, command_id, refusal.detail)
        if refusal.record:
            try:
                self.runner.apply(refusal.record, self.clock.now())
            except StoreUnavailable:  # the refusal stands; the store's fault says why
                self._store_failed()
        self._reply(command_id, False, refusal.reason, refusal.detail)

    def _reply(
        self,
        command_id: str,
        ok: bool,
        reason: ReplyReason | None = None,
        detail: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        reply = Reply(
            site=self.rules.site,
            command_id=command_id,
            at=self.clock.now(),
            ok=ok,
            reason=reason,
            detail=fit_text(detail) if detail else None,
            result=result,
        )
        self._send_reply(encode(reply))


class _Unverified(Exception):
    """A command that failed verification, with the id it claims."""

    def __init__(self, command_id: str, refusal: CommandRefused) -> None:
        super().__init__(refusal.detail)
        self.command_id = command_id
        self.refusal = refusal
