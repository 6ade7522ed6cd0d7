"""What every lock-board family declares about itself: its name and its line's facts.

A family is one board protocol on one RS485 line (hardware.md). Its codec lives beside this
module (protocols/boards/<family>.py) and ends with a `FACTS` record; the registry in
protocols/boards/__init__.py collects them. The edge's driver dialects and hw_sim's devices
look a family up by its `BoardFamily` value, so nothing outside the family's own modules
branches on which family it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BoardFamily(enum.StrEnum):
    """The lock-board families lockernet speaks; the value is the name in config and CLIs."""

    CU16 = "cu16"
    RS485_8A = "rs485-8a"
    CU48 = "cu48"


@dataclass(frozen=True)
class FamilyFacts:
    """One family's line and addressing facts, with the section of hardware.md they come from.

    `board_ids` are the addresses a board can be set to; `locks_per_board` is the most locks
    (channels) one board drives; `max_boards` is how many boards one bus carries at most.
    """

    family: BoardFamily
    title: str  # how the docs and error messages name it, e.g. "Kerong CU16"
    baud_rate: int  # the factory default; 8N1 in every family so far
    board_ids: range
    locks_per_board: int
    max_boards: int
    lock_noun: str  # "lock" or "channel": what the family's documentation calls one output
    source: str  # where the facts are stated, e.g. "hardware.md §1"
