"""A simulated generic RS485 lock board bus (the "0x8A/0x80" family, 8-50 channels).

Speaks hardware.md §2 through the project's codec (protocols.boards.rs485). Each board has a door
feedback contact per channel; which level (00 or 11) means "open" depends on the lock, so it
is an option (`open_level`, default 11 = open: the documented 8-channel board answered a
query-all of closed doors with all-zero status bytes).

Choices where hardware.md leaves room (each an option or documented here):
- an unlock is answered `unlock_reply_delay_s` (500 ms) later with the feedback read at that
  moment, so a door that sprang open reports open and a jammed one reports shut;
- "open all" (channel 0) releases every channel and answers `8A BB 00 11 X` after the same
  delay, echoing the command;
- a board handles one command at a time: a query sent while an unlock is pending is answered
  after the unlock's reply;
- query-all answers with `status_bytes` status bytes (default `status_byte_count(channels)`,
  at least three, as the documented 8-channel board did); bits past the last channel are 0.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hw_sim.devices.board_bus import BoardBus, SimulatedBoard
from hw_sim.devices.compartment import COIL_HOLD_S
from hw_sim.devices.lock_bus import DeviceFamily
from hw_sim.errors import ConfigError
from protocols.boards import rs485
from protocols.boards.rs485 import (
    AllStatus,
    ChannelStatus,
    Feedback,
    QueryAll,
    QueryChannel,
    Unlock,
)
from protocols.clock import Clock

# hardware.md §2: "Reply about 500 ms later".
UNLOCK_REPLY_DELAY_S = 0.5
# hardware.md gives no query latency; far inside the 1.5 s driver timeout. An assumption.
REPLY_LATENCY_S = 0.01
_SHORT_PAYLOAD = range(2, 4)  # channel and feedback bytes of a 5-byte reply


@dataclass(frozen=True)
class Rs485Options:
    channels: int = rs485.MIN_CHANNELS
    status_bytes: int | None = None  # None: status_byte_count(channels)
    open_level: Feedback = Feedback.HIGH
    reply_latency_s: float = REPLY_LATENCY_S
    unlock_reply_delay_s: float = UNLOCK_REPLY_DELAY_S
    coil_hold_s: float = COIL_HOLD_S
    baud: int = rs485.BAUD_RATE

    def __post_init__(self) -> None:
        if not rs485.MIN_CHANNELS <= self.channels <= rs485.MAX_CHANNELS:
            raise ConfigError(
                f"an RS485 board has {rs485.MIN_CHANNELS}-{rs485.MAX_CHANNELS} channels, "
                f"not {self.channels}"
            )
        if self.status_bytes is not None and not (
            -(-self.channels // 8) <= self.status_bytes <= rs485.MAX_STATUS_BYTES
        ):
            raise ConfigError(f"{self.status_bytes} status bytes cannot hold the channels")

    @property
    def status_byte_count(self) -> int:
        if self.status_bytes is not None:
            return self.status_bytes
        return rs485.status_byte_count(self.channels)


class Rs485Board(SimulatedBoard):
    def __init__(self, address: int, clock: Clock, options: Rs485Options) -> None:
        super().__init__(rs485.FACTS, address, clock, options.channels)
        self.options = options

    def level_high(self, channel: int, at: float) -> bool:
        door_open = self.compartments[channel - 1].door_open(at)
        return door_open == (self.options.open_level is Feedback.HIGH)

    def feedback(self, channel: int, at: float) -> int:
        return Feedback.HIGH if self.level_high(channel, at) else Feedback.LOW


class Rs485Bus(BoardBus[Rs485Board, rs485.HostFrame]):
    """The boards on one RS485 line, as one serial device."""

    facts = rs485.FACTS

    def __init__(
        self,
        clock: Clock,
        addresses: Iterable[int] = (1,),
        options: Rs485Options | None = None,
        seed: int = 0,
    ) -> None:
        self.options = options or Rs485Options()
        super().__init__(
            addresses,
            lambda address: Rs485Board(address, clock, self.options),
            self.options.baud,
            rs485.host_reassembler(),
            seed,
        )

    def _decode(self, raw: bytes) -> rs485.HostFrame:
        # A well-checked frame of no known command raises FrameError: a board ignores it.
        return rs485.decode_host_frame(raw)

    def _handle(self, frame: rs485.HostFrame, at: float) -> None:
        board = self.boards.get(frame.board)
        if board is None or not board.powered:
            return
        channels = self.options.channels
        ready = at + self.options.reply_latency_s
        if isinstance(frame, Unlock):
            ready = at + self.options.unlock_reply_delay_s
            if frame.channel == 0:
                for compartment in board.compartments:
                    compartment.release(at, self.options.coil_hold_s)
                echo = frame.to_bytes()
                self._reply(board, ready, lambda _t: echo, _SHORT_PAYLOAD)
            elif frame.channel <= channels:
                channel = frame.channel
                board.compartments[channel - 1].release(at, self.options.coil_hold_s)
                self._reply(
                    board,
                    ready,
                    lambda t: rs485.UnlockReply(
                        board.id, channel, board.feedback(channel, t)
                    ).to_bytes(),
                    _SHORT_PAYLOAD,
                )
        elif isinstance(frame, QueryChannel):
            if frame.channel <= channels:
                channel = frame.channel
                self._reply(
                    board,
                    ready,
                    lambda t: ChannelStatus(
                        board.id, channel, board.feedback(channel, t)
                    ).to_bytes(),
                    _SHORT_PAYLOAD,
                )
        elif isinstance(frame, QueryAll):
            count = self.options.status_byte_count
            padding = (False,) * (8 * count - channels)

            def all_status(t: float) -> bytes:
                bits = tuple(board.level_high(ch, t) for ch in range(1, channels + 1))
                return AllStatus(board.id, bits + padding).to_bytes()

            self._reply(board, ready, all_status, range(2, 2 + count))


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--channels",
        type=int,
        default=rs485.MIN_CHANNELS,
        help=f"channels per board, {rs485.MIN_CHANNELS}-{rs485.MAX_CHANNELS}",
    )
    group.add_argument(
        "--open-level",
        choices=("00", "11"),
        default="11",
        help="door-feedback byte that means open (default 11)",
    )


def _options_from(args: argparse.Namespace) -> Rs485Options:
    return Rs485Options(
        channels=args.channels,
        open_level=Feedback.HIGH if args.open_level == "11" else Feedback.LOW,
    )


def _lock_bus_keys(options: Rs485Options, board_ids: list[int]) -> dict[str, Any]:
    level = "high" if options.open_level is Feedback.HIGH else "low"
    boards = [
        {"address": address, "channels": options.channels, "open_level": level}
        | ({} if options.status_bytes is None else {"status_bytes": options.status_bytes})
        for address in board_ids
    ]
    return {"family": rs485.FACTS.family.value, "rs485_boards": boards}


DEVICE = DeviceFamily(
    facts=rs485.FACTS,
    options=Rs485Options,
    first_board=rs485.MIN_BOARD,  # the DIP-switch addresses start at 1 (hardware.md §2)
    make_bus=Rs485Bus,
    add_arguments=_add_arguments,
    options_from=_options_from,
    lock_bus_keys=_lock_bus_keys,
    locks_per_board=lambda options: options.channels,
)
