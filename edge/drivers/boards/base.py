"""What a lock-board family's driver dialect gives the generic driver (edge/drivers/lockboard.py).

The generic driver owns the bus, the retries, the health counters and the unlock's
confirmation; a dialect knows one family's bytes: how to ask a board for its sensors and read
the answer, how to release a lock and what the board's answer to that says, the line's baud
rate and which boards and locks a bus configuration names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from edge.errors import NoReply
from protocols.boards import FamilyFacts
from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler

if TYPE_CHECKING:
    from edge.config import LockBusConfig
    from edge.drivers.lockboard import Bus


# The [lock_bus] keys only some families read (edge/config.py's LockBusConfig); a dialect
# names those it reads in `reads`. Any other one set away from its default is refused: a
# CU16 setting on a CU48 bus, or a second family's boards, would otherwise pass unread.
FAMILY_KEYS = frozenset(("boards", "polarity", "unlock_reply", "rs485_boards"))


@dataclass(frozen=True)
class BoardReading:
    """One board's sensors: per lock (index 0 = lock 1), door open? and parcel seen?"""

    board: int
    door_open: tuple[bool, ...]
    occupied: tuple[bool | None, ...]  # None: this board has no occupancy sensor

    @classmethod
    def of_locks(cls, board: int, locked: Sequence[bool], occupied: Sequence[bool]) -> BoardReading:
        """The reading of a board that reports its locks (a door is open where its lock is
        not locked) and an IR sensor per compartment."""
        return cls(board, tuple(not lock for lock in locked), tuple(occupied))


AnswerT = TypeVar("AnswerT")


def decoded(
    raw: bytes | None,
    decode: Callable[[bytes], object],
    want: type[AnswerT],
    board: int,
    asked: str,
) -> AnswerT:
    """`raw`, `board`'s answer to what was `asked` ("a status query"), decoded to a `want`.

    Raises NoReply when it does not decode (with the codec's reason) or is another answer:
    an answer that is not the one asked for is no answer."""
    assert raw is not None, "Bus.transact returns the answer it waited for"
    try:
        answer = decode(raw)
    except FrameError as exc:
        raise NoReply(str(exc)) from exc
    if not isinstance(answer, want):
        raise NoReply(f"board {board} answered {asked} with {answer}")
    return answer


class Dialect(ABC):
    """One family's side of the conversation with a board, for one configured bus."""

    facts: ClassVar[FamilyFacts]
    reads: ClassVar[frozenset[str]]  # which of FAMILY_KEYS this family's bus reads
    # How long after an unlock the confirming reading is taken, when the dialect asks for one
    # (unlock returns None). Seconds.
    confirm_delay_s: ClassVar[float] = 0.0

    def __init__(self, config: LockBusConfig) -> None:
        self.config = config
        self.layout = self.board_layout(config)
        self._queries: dict[int, bytes] = {}
        self._answers: dict[int, tuple[bytes, BoardReading]] = {}

    def status_query(self, board: int, build: Callable[[], bytes]) -> bytes:
        """`board`'s status query, `build()` the first time: a query's bytes never change,
        and every poll of every board sends one."""
        query = self._queries.get(board)
        if query is None:
            query = self._queries[board] = build()
        return query

    def remembered(
        self, board: int, raw: bytes | None, decode: Callable[[bytes], BoardReading]
    ) -> BoardReading:
        """The reading `board`'s answer `raw` gives, `decode(raw)` (NoReply if it is none):
        the same bytes as its last answer give the same reading without decoding them again
        (most polls, nothing changed). A frame that did not decode is never remembered."""
        assert raw is not None, "Bus.transact returns the answer it waited for"
        last = self._answers.get(board)
        if last is not None and last[0] == raw:
            return last[1]
        reading = decode(raw)
        self._answers[board] = (bytes(raw), reading)
        return reading

    @classmethod
    def board_layout(cls, config: LockBusConfig) -> dict[int, int]:
        """The boards a bus configuration names: board id -> how many locks it drives, in the
        order they are polled. Raises ValueError, naming the key, if the configuration does
        not fit the family or sets another family's key (run by the configuration's
        validation, so a bad file is refused at start-up)."""
        defaults = type(config).model_fields
        for key in sorted(FAMILY_KEYS - cls.reads):
            if getattr(config, key) != defaults[key].get_default(call_default_factory=True):
                known = ", ".join(sorted(cls.reads))
                raise ValueError(
                    f"lock_bus.{key} is not read on a {cls.facts.family} bus "
                    f"({cls.facts.title}: {known})"
                )
        return cls.layout_of(config)

    @classmethod
    def layout_of(cls, config: LockBusConfig) -> dict[int, int]:
        """board_layout's family part, once no other family's key is set: by default the
        `boards` listed (listed_boards)."""
        return cls.listed_boards(config)

    @classmethod
    def listed_boards(cls, config: LockBusConfig) -> dict[int, int]:
        """`config.boards` as a layout, each with the family's locks per board: for a family
        whose boards are known by their ids alone. ValueError if an id repeats or is not
        one the family's boards can be set to."""
        title, ids = cls.facts.title, cls.facts.board_ids
        if not config.boards or len(set(config.boards)) != len(config.boards):
            raise ValueError(f"boards must list each {title} board id once")
        if any(b not in ids for b in config.boards):
            raise ValueError(f"{title} board ids are {ids.start}-{ids.stop - 1}")
        return dict.fromkeys(config.boards, cls.facts.locks_per_board)

    @abstractmethod
    def reassembler(self) -> FrameReassembler:
        """A fresh reassembler of the board's replies on the host's side."""

    @abstractmethod
    async def read(self, bus: Bus, board: int) -> BoardReading:
        """Ask one board for its sensors once and decode the answer.

        Raises NoReply (a timeout, or an answer that is not a reading) or NotSent."""

    @abstractmethod
    async def unlock(self, bus: Bus, board: int, lock: int) -> bool | None:
        """Send one unlock of a 1-based lock and read what the board answers to it.

        Returns True when released, False when the board's answer shows it did not release,
        None when the answer says nothing and a reading `confirm_delay_s` later must tell.
        Raises NoReply when an expected answer never came (the unlock may have gone out, so
        the driver does not send it again blind) and NotSent when nothing was written."""
