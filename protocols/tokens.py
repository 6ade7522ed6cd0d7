"""Signed tokens: pickup codes, courier badges, return labels and command signatures
(Ed25519).

Central holds the private key; a site holds only the public key, so a stolen device cannot
mint codes for any site. Every signature covers a domain tag naming the token's kind, so a
badge can never pass as a pickup code or a command.

Pickup codes and badges travel as QR/barcode text, so they are packed in binary and written
in RFC 4648 base32: upper-case letters and digits, which a QR code stores in its compact
alphanumeric mode. A pickup code for an S10 parcel at a typical site id is ~170 characters.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocols.errors import RefusalReason, TokenRefused

FORMAT_VERSION = 1
SIGNATURE_LENGTH = 64
NONCE_LENGTH = 8
MAX_FIELD_LENGTH = 64  # one length byte per text field; ids are far shorter
# A device clock may run a little ahead of central's: tolerate this much "not yet valid".
CLOCK_SKEW_S = 60
# Short form: 40 bits of the code's hash, 8 Crockford base32 characters, for counter staff.
SHORT_FORM_BITS = 40
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DOMAIN = b"lockernet/token/v1/"


class TokenKind(enum.IntEnum):
    PICKUP = 1
    BADGE = 2
    COMMAND = 3
    RETURN = 4


# How a scanned text says what it is: the one definition of the scan prefixes (the site
# tells a pickup code from a badge from a parcel label by them; no label begins so).
PICKUP_PREFIX = "LNP:"
BADGE_PREFIX = "LNB:"
RETURN_PREFIX = "LNR:"
_TEXT_PREFIX = {
    TokenKind.PICKUP: PICKUP_PREFIX,
    TokenKind.BADGE: BADGE_PREFIX,
    TokenKind.RETURN: RETURN_PREFIX,
}
# A return label's site when the consumer may drop it off at any site of the network (no
# site id is "*": protocols.messages.SITE_ID_PATTERN).
ANY_SITE = "*"


def _domain(kind: TokenKind) -> bytes:
    return _DOMAIN + kind.name.encode()


@dataclass(frozen=True)
class PickupCode:
    """What a consumer's pickup code says: this parcel, at this site, until then."""

    site: str
    parcel: str
    expires_at: int  # Unix seconds
    nonce: bytes

    @property
    def code_id(self) -> str:
        """A stable id for this code (for single use and revocation), without the secret."""
        return self.nonce.hex()


@dataclass(frozen=True)
class CourierBadge:
    """What a courier badge says: this courier of this partner, in this window."""

    courier: str
    partner: str
    valid_from: int
    valid_until: int
    nonce: bytes

    @property
    def badge_id(self) -> str:
        """A stable id for this badge (for revocation), without the secret."""
        return self.nonce.hex()


@dataclass(frozen=True)
class ReturnLabel:
    """What a consumer's return label says: return `return_id`, the parcel labelled `label`
    going back, of size `size` (a SizeClass value), droppable at `site` (or ANY_SITE) until
    `expires_at` (Unix seconds)."""

    return_id: str
    label: str
    site: str
    size: str
    expires_at: int
    nonce: bytes

    @property
    def label_id(self) -> str:
        """A stable id for this label (for single use at the site), without the secret."""
        return self.nonce.hex()


def _pack_text(value: str) -> bytes:
    raw = value.encode("utf-8")
    if not raw or len(raw) > MAX_FIELD_LENGTH:
        raise ValueError(f"token field {value!r} must be 1-{MAX_FIELD_LENGTH} bytes")
    return bytes((len(raw),)) + raw


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TokenRefused(RefusalReason.MALFORMED, "token is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def text(self) -> str:
        length = self.take(1)[0]
        if not 1 <= length <= MAX_FIELD_LENGTH:
            raise TokenRefused(RefusalReason.MALFORMED, "token has an empty or oversized field")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise TokenRefused(RefusalReason.MALFORMED, "token field is not UTF-8") from None

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def end(self) -> None:
        if self.pos != len(self.data):
            raise TokenRefused(RefusalReason.MALFORMED, "token has trailing bytes")


def _to_text(kind: TokenKind, body: bytes, signature: bytes) -> str:
    return _TEXT_PREFIX[kind] + base64.b32encode(body + signature).decode().rstrip("=")


def _from_text(kind: TokenKind, text: str) -> tuple[bytes, bytes]:
    if not isinstance(text, str):
        raise TokenRefused(RefusalReason.MALFORMED, "token is not text")
    prefix = _TEXT_PREFIX[kind]
    if not text.startswith(prefix):
        other = [k for k, p in _TEXT_PREFIX.items() if text.startswith(p)]
        if other:
            found = other[0].name.lower()
            raise TokenRefused(
                RefusalReason.WRONG_KIND, f"a {found} token, not {kind.name.lower()}"
            )
        raise TokenRefused(RefusalReason.MALFORMED, f"not a lockernet {kind.name.lower()} token")
    encoded = text[len(prefix) :]
    if len(encoded) > 1024:
        raise TokenRefused(RefusalReason.MALFORMED, "token is too long")
    try:
        raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
    except (binascii.Error, ValueError):
        raise TokenRefused(RefusalReason.MALFORMED, "token is not valid base32") from None
    # The last character may carry unused bits: only the one text we issue is accepted, so
    # a code has one text (and one short form), however its bits are flipped.
    if base64.b32encode(raw).decode().rstrip("=") != encoded:
        raise TokenRefused(RefusalReason.MALFORMED, "token is not in canonical base32")
    if len(raw) < 2 + SIGNATURE_LENGTH:
        raise TokenRefused(RefusalReason.MALFORMED, "token is truncated")
    body, signature = raw[:-SIGNATURE_LENGTH], raw[-SIGNATURE_LENGTH:]
    if body[0] != FORMAT_VERSION:
        raise TokenRefused(RefusalReason.MALFORMED, f"unknown token format {body[0]}")
    if body[1] != kind:
        raise TokenRefused(RefusalReason.WRONG_KIND, f"token kind {body[1]} is not {kind.name}")
    return body, signature


def short_form(token_text: str) -> str:
    """The human-readable form of a code, e.g. "7KQ2-M9XD", for counter staff to read out."""
    digest = hashlib.sha256(token_text.encode("utf-8")).digest()
    value = int.from_bytes(digest[: SHORT_FORM_BITS // 8], "big")
    chars = "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(35, -1, -5))
    return f"{chars[:4]}-{chars[4:]}"


def short_form_matches(token_text: str, typed: str) -> bool:
    """Compare a typed short form with a code's, forgiving case, dashes and O/0, I/L/1."""
    normal = typed.upper().replace("-", "").replace(" ", "")
    normal = normal.replace("O", "0").replace("I", "1").replace("L", "1")
    # compare_digest takes str of ASCII only: compare bytes, so typed junk is just a mismatch.
    expected = short_form(token_text).replace("-", "")
    return hmac.compare_digest(normal.encode("utf-8", "replace"), expected.encode())


class TokenSigner:
    """Central's side: holds the private key and mints tokens."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def generate(cls) -> TokenSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> TokenSigner:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("central's signing key must be an Ed25519 private key")
        return cls(key)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.public_key)

    def sign(self, kind: TokenKind, body: bytes) -> bytes:
        """The raw signature of `body` as a token of `kind` (domain-separated)."""
        return self._key.sign(_domain(kind) + body)

    def pickup_code(self, code: PickupCode) -> str:
        if len(code.nonce) != NONCE_LENGTH:
            raise ValueError(f"a pickup nonce is {NONCE_LENGTH} bytes")
        body = (
            bytes((FORMAT_VERSION, TokenKind.PICKUP))
            + _pack_text(code.site)
            + _pack_text(code.parcel)
            + struct.pack(">I", code.expires_at)
            + code.nonce
        )
        return _to_text(TokenKind.PICKUP, body, self.sign(TokenKind.PICKUP, body))

    def courier_badge(self, badge: CourierBadge) -> str:
        if len(badge.nonce) != NONCE_LENGTH:
            raise ValueError(f"a badge nonce is {NONCE_LENGTH} bytes")
        body = (
            bytes((FORMAT_VERSION, TokenKind.BADGE))
            + _pack_text(badge.courier)
            + _pack_text(badge.partner)
            + struct.pack(">II", badge.valid_from, badge.valid_until)
            + badge.nonce
        )
        return _to_text(TokenKind.BADGE, body, self.sign(TokenKind.BADGE, body))

    def return_label(self, label: ReturnLabel) -> str:
        """The scannable text ("LNR:...") of a consumer's return label."""
        if len(label.nonce) != NONCE_LENGTH:
            raise ValueError(f"a return label's nonce is {NONCE_LENGTH} bytes")
        body = (
            bytes((FORMAT_VERSION, TokenKind.RETURN))
            + _pack_text(label.return_id)
            + _pack_text(label.label)
            + _pack_text(label.site)
            + _pack_text(label.size)
            + struct.pack(">I", label.expires_at)
            + label.nonce
        )
        return _to_text(TokenKind.RETURN, body, self.sign(TokenKind.RETURN, body))


class TokenVerifier:
    """A site's side: holds only central's public key, and says precisely why it refuses."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._key = public_key

    @classmethod
    def from_pem(cls, pem: bytes) -> TokenVerifier:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("central's public key must be an Ed25519 public key")
        return cls(key)

    def public_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def check_signature(self, kind: TokenKind, body: bytes, signature: bytes) -> None:
        try:
            self._key.verify(signature, _domain(kind) + body)
        except InvalidSignature:
            raise TokenRefused(
                RefusalReason.BAD_SIGNATURE, "signature does not match central's key"
            ) from None

    def pickup_code(self, text: str, site: str, now: float) -> PickupCode:
        """Verify a scanned pickup code for this site at time `now` (Unix seconds)."""
        body, signature = _from_text(TokenKind.PICKUP, text)
        reader = _Reader(body)
        reader.take(2)
        code = PickupCode(reader.text(), reader.text(), reader.u32(), reader.take(NONCE_LENGTH))
        reader.end()
        # The layout is read first, so a cut-off code is "malformed", not "bad signature";
        # nothing in the body is trusted or reported on before the signature is checked.
        self.check_signature(TokenKind.PICKUP, body, signature)
        if code.site != site:
            raise TokenRefused(RefusalReason.WRONG_SITE, f"code is for site {code.site}")
        if now >= code.expires_at:
            raise TokenRefused(RefusalReason.EXPIRED, f"code expired at {code.expires_at}")
        return code

    def courier_badge(self, text: str, now: float) -> CourierBadge:
        body, signature = _from_text(TokenKind.BADGE, text)
        reader = _Reader(body)
        reader.take(2)
        courier, partner = reader.text(), reader.text()
        valid_from, valid_until = reader.u32(), reader.u32()
        badge = CourierBadge(courier, partner, valid_from, valid_until, reader.take(NONCE_LENGTH))
        reader.end()
        self.check_signature(TokenKind.BADGE, body, signature)  # after the layout, as above
        if now + CLOCK_SKEW_S < badge.valid_from:
            raise TokenRefused(RefusalReason.NOT_YET_VALID, f"badge valid from {valid_from}")
        if now >= badge.valid_until:
            raise TokenRefused(RefusalReason.EXPIRED, f"badge expired at {valid_until}")
        return badge

    def return_label(self, text: str, site: str, now: float) -> ReturnLabel:
        """Verify a scanned return label at site `site` at `now` (Unix seconds): signed by
        central, for this site or any, not expired. Raises TokenRefused (MALFORMED,
        WRONG_KIND, BAD_SIGNATURE, WRONG_SITE, EXPIRED). Single use is the site's to check."""
        body, signature = _from_text(TokenKind.RETURN, text)
        reader = _Reader(body)
        reader.take(2)
        found = ReturnLabel(
            reader.text(),
            reader.text(),
            reader.text(),
            reader.text(),
            reader.u32(),
            reader.take(NONCE_LENGTH),
        )
        reader.end()
        self.check_signature(TokenKind.RETURN, body, signature)  # after the layout, as above
        if found.site not in (site, ANY_SITE):
            raise TokenRefused(RefusalReason.WRONG_SITE, f"return label is for site {found.site}")
        if now >= found.expires_at:
            raise TokenRefused(RefusalReason.EXPIRED, f"return label expired at {found.expires_at}")
        return found
