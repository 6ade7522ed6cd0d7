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


class ChoiceError(DeliveryError):
    """A consumer's choice of site (central/delivery/choice.py) that cannot be made."""


class UnknownLink(ChoiceError):
    """A choice link that is not one central made: a forged token, or another parcel's."""


class ChoiceClosed(ChoiceError):
    """The choice is over: its window ended, or the parcel was redirected, returned or
    sent out again meanwhile."""


class NoRoom(ChoiceError):
    """The chosen site has no room for the parcel (any more): another may be chosen."""


class NotOffered(ChoiceError):
    """The chosen site is not a locker or collection point near the consumer's address."""


class ChoiceBusy(ChoiceError):
    """The chosen site stayed busy with other writers: the same choice may be sent again."""
