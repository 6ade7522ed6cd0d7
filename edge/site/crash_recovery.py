"""What a door that was being opened when the agent died became: settled by the board.

A door is opened in two steps: the intent is committed to the store (the slot moves to an
OPEN_FOR_* state and a `door_opened` event is written), then the unlock frame goes out. A
`kill -9`, a power cut or a crash between the two leaves an intent whose unlock may never have
been sent. The restarted agent cannot know from its own records whether the frame left; the
board's reading is the evidence:

- the door is open now: it did open; the agent finishes the visit when the door shuts;
- the door is shut and the contents changed the way the visit meant (a parcel gone after a
  pickup or a removal, one inside after a deposit): it happened; the agent finishes it;
- the door is shut and the contents are as before: nothing happened. The intent is undone
  (the parcel is still the consumer's to collect with the same code, the courier's to deposit
  or remove again) and no jam is reported: a jam means a release that did not open the door,
  and nobody knows a release was ever sent;
- the door is shut and the board cannot see contents: the store's `released_at` (written
  once the board confirmed the release) decides. Released: finished as a door that opened
  (as before this module). Not known to be released: undone, the safe side, since a pickup
  or deposit recorded for a door that never opened sends central a parcel that is not where
  it says, while a code left usable can at worst open a door again.
"""

from __future__ import annotations

import enum

from protocols.messages import SlotState


class Outcome(enum.Enum):
    STILL_OPEN = "still_open"  # the door is open: it did open; finish when it shuts
    HAPPENED = "happened"  # shut, contents changed as meant: finish the visit
    DID_NOT_HAPPEN = "did_not_happen"  # shut, contents as before (or unseen): undo


# What the compartment held before the door was meant to open, per interrupted intent.
HELD_BEFORE: dict[SlotState, bool] = {
    SlotState.OPEN_FOR_DEPOSIT: False,
    SlotState.OPEN_FOR_PICKUP: True,
    SlotState.OPEN_FOR_REMOVAL: True,
}


def settle(state: SlotState, door_open: bool, occupied: bool | None, released: bool) -> Outcome:
    """Settle an intent found in the store at start-up by the board's reading of its slot.

    `state` is one of the OPEN_FOR_* states (ValueError otherwise); `occupied` is None when
    the board has no occupancy sensor; `released` says the store recorded the board's
    confirmation of the unlock before the agent stopped."""
    if state not in HELD_BEFORE:
        raise ValueError(f"slot state {state.value} is not a door being opened")
    if door_open:
        return Outcome.STILL_OPEN
    if occupied is None:
        return Outcome.HAPPENED if released else Outcome.DID_NOT_HAPPEN
    return Outcome.DID_NOT_HAPPEN if occupied == HELD_BEFORE[state] else Outcome.HAPPENED
