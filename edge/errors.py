"""The edge agent's errors: one root, and the kinds a caller handles differently."""

from __future__ import annotations


class EdgeError(Exception):
    """Root of every error raised by the edge agent."""


class ConfigError(EdgeError):
    """A site configuration that cannot be used; the message names the key."""


class IllegalTransition(EdgeError):
    """A slot asked to move in a way its transition table does not allow (a bug, or a race)."""


class HardwareError(EdgeError):
    """A lock board or scanner misbehaved: no reply, bad frames, a lock that will not move."""


class NoReply(HardwareError):
    """A board did not answer in time, after retries."""


class NotSent(NoReply):
    """The request never went out (the port is not open, or the write failed)."""


class LockDidNotRelease(HardwareError):
    """An unlock was sent and confirmed by no status reading."""


class PortClosed(HardwareError, OSError):
    """A serial port is gone (cable pulled, device unplugged)."""
