"""One root error for the hardware simulator, and the kinds a caller acts on differently."""

from __future__ import annotations


class HwSimError(Exception):
    """Root of every error raised by `hw_sim`."""


class PhysicalError(HwSimError):
    """A person tried something the hardware does not allow (e.g. put a parcel behind a
    closed door). Nothing changed."""


class ConfigError(HwSimError):
    """A simulator was set up with values the real hardware cannot have."""


class ControlError(HwSimError):
    """A control-channel command that cannot be carried out; nothing changed."""
