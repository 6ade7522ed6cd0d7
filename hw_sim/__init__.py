"""Simulated lock boards, scanners and people that speak the real serial bytes.

Devices are sans-I/O (bytes and a time in, timed replies out, see `outbox`); the transports
(`pty_transport`, `memory_transport`) are a thin shell around them; `site` wires one site's
devices together, `faults` breaks them on purpose and `people` acts on them as people would.
"""

from hw_sim.errors import ConfigError, ControlError, HwSimError, PhysicalError

__all__ = ["ConfigError", "ControlError", "HwSimError", "PhysicalError"]
