"""The driver dialects of the lock-board families, looked up by `BoardFamily`.

The generic driver (edge/drivers/lockboard.py) and the configuration (edge/config.py) ask
`dialect_for(family)`; a family's bytes live only in its own module here and in its codec
(protocols/boards/). Adding a family is one module and one entry below.
"""

from __future__ import annotations

from edge.drivers.boards.base import BoardReading, Dialect
from edge.drivers.boards.cu16 import Cu16Dialect
from edge.drivers.boards.cu48 import Cu48Dialect
from edge.drivers.boards.rs485 import Rs485Dialect
from protocols.boards import BoardFamily

DIALECTS: dict[BoardFamily, type[Dialect]] = {
    dialect.facts.family: dialect for dialect in (Cu16Dialect, Rs485Dialect, Cu48Dialect)
}


def dialect_for(family: BoardFamily) -> type[Dialect]:
    """The dialect class of a registered family; ValueError naming the known ones otherwise."""
    found = DIALECTS.get(family)
    if found is None:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"no driver for lock-board family {family!r}; known: {known}")
    return found


__all__ = ["DIALECTS", "BoardReading", "Dialect", "dialect_for"]
