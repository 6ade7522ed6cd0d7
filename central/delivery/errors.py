"""The ways a handheld's request is refused: each says what was wrong, and nothing changed."""

from __future__ import annotations

from central.errors import CentralError


class DeliveryError(CentralError):
    """A home delivery request that cannot be done; the message says what and why."""


class NotOnRound(DeliveryError):
    """The parcel is unknown, or not a home delivery of this courier's (told apart from
    neither, so a courier cannot probe another's parcels)."""


class WrongState(DeliveryError):
    """The parcel is not in a state the request applies to (already delivered, not out)."""


class BadProof(DeliveryError):
    """The proof does not hold: a wrong or expired one-time code."""


class KeyReused(DeliveryError):
    """An attempt key the handheld already used for another parcel or outcome."""


class Incomplete(DeliveryError):
    """A delivery without its proof, or a failed attempt without its reason."""
