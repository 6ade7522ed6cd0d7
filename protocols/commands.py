"""Signing and verifying central's commands to sites."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from protocols.errors import MessageError, RefusalReason, TokenRefused, UnsupportedSchemaVersion
from protocols.messages import Command, SignedCommand, decode, encode
from protocols.tokens import CLOCK_SKEW_S, SIGNATURE_LENGTH, TokenKind, TokenSigner, TokenVerifier

# Commands that move a door. One is meant for a person standing at the door now (a support
# call, a technician): after an outage it would open the door for nobody, so a site obeys it
# only this soon after central issued it, whatever its `expires_at` says, and central gives it
# no longer an expiry. A minute covers delivery, a site's clock drift and a slow broker.
DOOR_MOVING = frozenset({"open_slot"})
DOOR_COMMAND_FRESH_S = 60.0


def sign_command(signer: TokenSigner, command: Command) -> SignedCommand:
    text = encode(command).decode()
    signature = signer.sign(TokenKind.COMMAND, text.encode())
    return SignedCommand(command=text, sig=base64.urlsafe_b64encode(signature).decode().rstrip("="))


def verify_command(
    verifier: TokenVerifier,
    signed: SignedCommand,
    site: str,
    now: float,
    witness: Callable[[float], float] | None = None,
) -> Command:
    """The command, if central signed it for this site and it is in date.

    Single use is the receiver's to enforce (it remembers command ids and nonces); this
    checks everything that needs no memory. Raises TokenRefused with the precise reason.
    `witness`, if given, is called with the signed `issued_at` once the signature and site
    have verified (central's signed time is evidence of the time: a site whose clock lost
    its time learns it here) and returns the time (Unix seconds) to check the dates against.
    """
    try:
        signature = base64.urlsafe_b64decode(signed.sig + "==")
    except (binascii.Error, ValueError):
        raise TokenRefused(RefusalReason.MALFORMED, "signature is not base64url") from None
    if len(signature) != SIGNATURE_LENGTH:
        raise TokenRefused(RefusalReason.MALFORMED, "signature has the wrong length")
    verifier.check_signature(TokenKind.COMMAND, signed.command.encode(), signature)
    try:
        command = decode(Command, signed.command)
    except UnsupportedSchemaVersion:
        raise
    except MessageError as exc:
        raise TokenRefused(RefusalReason.MALFORMED, str(exc)) from None
    if command.site != site:
        raise TokenRefused(RefusalReason.WRONG_SITE, f"command is for site {command.site}")
    if witness is not None:
        now = witness(command.issued_at)
    if now >= command.expires_at:
        raise TokenRefused(RefusalReason.EXPIRED, f"command expired at {command.expires_at}")
    if command.issued_at > now + CLOCK_SKEW_S:
        raise TokenRefused(RefusalReason.NOT_YET_VALID, f"command issued at {command.issued_at}")
    return command
