"""`lockernet qr show`: a parcel's current pickup code, re-rendered without changing it.

Central keeps a code's id (its nonce), site, parcel and expiry, never its text. Ed25519
signatures are deterministic (RFC 8032), so signing the same PickupCode again with the same
key yields the very text the consumer holds: the code shown is the code issued, still valid,
and nothing is revoked. If central's signing key changed since, the text would differ; the
short form stored at issue tells, and the operator is told to reissue instead.
"""

from __future__ import annotations

from central.errors import CentralError
from central.parcels.pickup_codes import IssuedCode, issue_code
from central.store import CodeRecord, CodeStatus, StoreView
from protocols.localtime import timestamp
from protocols.tokens import TokenSigner


class NoCurrentCode(CentralError):
    """A parcel with no active pickup code to show, or one that cannot be re-rendered."""


def current_code(view: StoreView, signer: TokenSigner, label: str, now: float) -> IssuedCode:
    """The parcel's newest active pickup code as issued (same text, same short form).
    NoCurrentCode if it has none (never issued, used, revoked), if it expired before
    `now` (Unix seconds), or if central's key changed since it was issued."""
    active = [c for c in view.codes(label) if c.status == CodeStatus.ACTIVE]
    if not active:
        raise NoCurrentCode(
            f"parcel {label} has no active pickup code (lockernet track {label} shows why; "
            f"lockernet qr reissue {label} -o FILE makes a new one)"
        )
    code = active[-1]  # codes are listed oldest issue first
    if code.expires_at <= now:
        raise NoCurrentCode(f"parcel {label}'s pickup code expired at {timestamp(code.expires_at)}")
    issued = reproduced(signer, code)
    if issued is None:
        raise NoCurrentCode(
            f"parcel {label}'s code was signed with another key than keys.signing_key now "
            f"holds: it cannot be shown (lockernet qr reissue {label} -o FILE replaces it)"
        )
    return issued


def reproduced(signer: TokenSigner, code: CodeRecord) -> IssuedCode | None:
    """The code as issued, signed again from its record (RFC 8032: the same text); None if
    central's key changed since (the short form differs), whatever the code's status."""
    issued = issue_code(
        signer, code.site, code.label, code.expires_at, nonce=bytes.fromhex(code.code_id)
    )
    return issued if issued.short_form == code.short_form else None
