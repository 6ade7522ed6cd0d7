"""One root error for the wire contract, and the few kinds a caller acts on differently."""

from __future__ import annotations

import enum


class ProtocolError(Exception):
    """Root of every error raised by `protocols`: bad bytes, bad messages, refused tokens."""


class FrameError(ProtocolError):
    """A serial frame that cannot be decoded. Carries the offending bytes."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        self.data = bytes(data)
        super().__init__(f"{message} (bytes: {self.data.hex(' ') or 'none'})")


class MessageError(ProtocolError):
    """An MQTT payload that is not a valid message of the expected type."""


class UnsupportedSchemaVersion(MessageError):
    """A message whose schema version this build does not speak."""

    def __init__(self, version: object, supported: frozenset[int]) -> None:
        self.version = version
        self.supported = supported
        speaks = ", ".join(str(v) for v in sorted(supported))
        super().__init__(
            f"unsupported schema version {version!r}: this build speaks version {speaks}; "
            "upgrade the receiver or downgrade the sender"
        )


class LabelError(ProtocolError):
    """A shipping-label id that is neither a valid UPU S10 id nor a platform id."""


class RefusalReason(enum.StrEnum):
    """Why a signed token (pickup code, courier badge, command) was refused."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    WRONG_KIND = "wrong_kind"
    WRONG_SITE = "wrong_site"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


class TokenRefused(ProtocolError):
    """A token that must not be honoured; `reason` says precisely why."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"token refused ({reason.value}): {detail}")
