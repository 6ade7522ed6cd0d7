"""The contract's vocabulary: the enumerations the MQTT messages (protocols/messages.py) use,
each value as it travels on the wire. protocols.messages re-exports every one of them."""

from __future__ import annotations

import enum


class SiteKind(enum.StrEnum):
    LOCKER = "locker"
    COUNTER = "counter"  # a staffed collection point: shelves, not doors


class SizeClass(enum.StrEnum):
    S = "S"
    M = "M"
    L = "L"
    XL = "XL"


class SlotState(enum.StrEnum):
    FREE = "free"
    RESERVED = "reserved"
    OPEN_FOR_DEPOSIT = "open_for_deposit"
    OCCUPIED = "occupied"
    OPEN_FOR_PICKUP = "open_for_pickup"
    OPEN_FOR_REMOVAL = "open_for_removal"
    OUT_OF_SERVICE = "out_of_service"
    FAULT = "fault"


class DoorState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class DoorOpenReason(enum.StrEnum):
    DEPOSIT = "deposit"
    PICKUP = "pickup"
    REMOVAL = "removal"
    REMOTE = "remote"
    MAINTENANCE = "maintenance"
    RETURN_DROP_OFF = "return_drop_off"  # a consumer's return label


class ScanRefusal(enum.StrEnum):
    """Why a scan opened nothing."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    WRONG_KIND = "wrong_kind"
    WRONG_SITE = "wrong_site"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    ALREADY_USED = "already_used"
    REVOKED = "revoked"
    PARCEL_NOT_HERE = "parcel_not_here"
    BAD_LABEL = "bad_label"
    UNKNOWN_LABEL = "unknown_label"
    NO_BADGE = "no_badge"
    NO_FREE_SLOT = "no_free_slot"
    LOCKED_OUT = "locked_out"


class ScanKind(enum.StrEnum):
    PICKUP_CODE = "pickup_code"
    COURIER_BADGE = "courier_badge"
    PARCEL_LABEL = "parcel_label"
    RETURN_LABEL = "return_label"  # a consumer's return (protocols.tokens.RETURN_PREFIX)
    UNKNOWN = "unknown"


class SlotFaultCode(enum.StrEnum):
    LOCK_WONT_RELEASE = "lock_wont_release"
    LOCK_WONT_LATCH = "lock_wont_latch"
    IR_STUCK = "ir_stuck"
    IR_MISMATCH = "ir_mismatch"  # the IR sensor and the expected contents disagree
    DOOR_SENSOR = "door_sensor"


class BoardFaultCode(enum.StrEnum):
    NO_REPLY = "no_reply"
    BAD_FRAMES = "bad_frames"
    POWER_LOSS = "power_loss"


class ScannerFaultCode(enum.StrEnum):
    UNPLUGGED = "unplugged"
    GARBAGE = "garbage"


class FaultComponent(enum.StrEnum):
    LOCK = "lock"
    SENSOR = "sensor"
    BOARD = "board"
    SCANNER = "scanner"
    LINK = "link"
    CLOCK = "clock"  # the site's wall clock disagrees with the time it has witnessed
    STORE = "store"  # the site's store refuses writes (disk full, I/O error): nothing opens
    AGENT = "agent"  # one of the agent's tasks died and is being restarted (ref: its name)


class RemovalReason(enum.StrEnum):
    EXPIRED = "expired"
    RETURN = "return"
    REDELIVERY = "redelivery"
    REMOTE = "remote"  # handed out through an operator's remote open
