"""The simulated lock-board families, by `BoardFamily` (protocols/boards).

A family's device module ends with `DEVICE = DeviceFamily(...)` (hw_sim/devices/lock_bus.py);
adding a family is its module and one entry below.
"""

from __future__ import annotations

from hw_sim.devices import cu16, cu48, rs485_board
from hw_sim.devices.lock_bus import DeviceFamily
from hw_sim.errors import ConfigError
from protocols.boards import BoardFamily

DEVICES: dict[BoardFamily, DeviceFamily] = {
    device.facts.family: device for device in (cu16.DEVICE, rs485_board.DEVICE, cu48.DEVICE)
}


def device_family(family: BoardFamily | str) -> DeviceFamily:
    """The simulated family named `family` (a BoardFamily or its name, e.g. "cu16");
    ConfigError naming the known ones otherwise."""
    try:
        return DEVICES[BoardFamily(family)]
    except (ValueError, KeyError):
        known = ", ".join(sorted(DEVICES))
        raise ConfigError(f"no simulated lock-board family {family!r}; known: {known}") from None
