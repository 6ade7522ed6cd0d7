"""What a consumer is told, and how it reaches them."""

from __future__ import annotations

import enum


class MessageKind(enum.StrEnum):
    """The messages a consumer gets about a parcel (the value is stored and logged)."""

    READY_FOR_PICKUP = "ready_for_pickup"  # with the pickup code
    REMINDER = "reminder"  # still waiting; no code (they have it)
    EXPIRY = "expiry"  # not collected in time; being sent back
    REDIRECT = "redirect"  # a failed home delivery now waits at a locker or counter (new code)
    FAILED_ATTEMPT = "failed_attempt"  # a courier could not deliver at the door
    RETURN_RECEIVED = "return_received"  # a consumer's return was dropped off
    OUT_FOR_DELIVERY = "out_for_delivery"  # on today's round, with the door's one-time code
    CODE_REISSUED = "code_reissued"  # an operator replaced the pickup code (old one void)


class Channel(enum.StrEnum):
    """How a message reaches the consumer: the contact it is addressed to."""

    EMAIL = "email"
    SMS = "sms"
