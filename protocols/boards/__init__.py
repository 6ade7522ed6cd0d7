"""The lock-board families: one codec module per family, and the registry that names them.

`FAMILIES[family]` gives a family's facts (protocols/boards/family.py); its codec is
`protocols.boards.<module>`. Adding a family is a codec module with a `FACTS` record, one
member of `BoardFamily` and one entry below.
"""

from __future__ import annotations

from protocols.boards import cu16, cu48, rs485
from protocols.boards.family import BoardFamily, FamilyFacts

FAMILIES: dict[BoardFamily, FamilyFacts] = {
    facts.family: facts for facts in (cu16.FACTS, rs485.FACTS, cu48.FACTS)
}


def facts(family: BoardFamily | str) -> FamilyFacts:
    """The registered facts of `family` (a BoardFamily or its name); ValueError if unknown."""
    try:
        return FAMILIES[BoardFamily(family)]
    except ValueError:
        known = ", ".join(sorted(FAMILIES))
        raise ValueError(f"unknown lock-board family {family!r}; known: {known}") from None


__all__ = ["FAMILIES", "BoardFamily", "FamilyFacts", "facts"]
