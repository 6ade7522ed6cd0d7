"""A consumer's opt-out: no more messages on a channel to an address (and taking it back)."""

from __future__ import annotations

from central.notify.recipients import normal_recipient
from central.store import CentralStore


def opt_out(store: CentralStore, address: str, now: float) -> tuple[str, str, bool]:
    """Stop messages to `address` (an e-mail address or a phone number; its channel follows
    from it). Messages still queued to it on that channel are given up. Returns (channel,
    normal address, whether it is new). ValueError naming the address if it is neither."""
    channel, recipient = normal_recipient(address)
    with store.transaction() as session:
        new = session.add_opt_out(channel.value, recipient, now)
    return channel.value, recipient, new


def opt_in(store: CentralStore, address: str) -> tuple[str, str, bool]:
    """Take back an opt-out of `address`; returns (channel, normal address, whether there
    was one). ValueError naming the address if it is neither."""
    channel, recipient = normal_recipient(address)
    with store.transaction() as session:
        removed = session.remove_opt_out(channel.value, recipient)
    return channel.value, recipient, removed
