"""Label ranges: which labels a partner may announce, so that no partner squats another's.

A partner may have ranges registered (by the operator, `lockernet partner ranges`):

- an S10 pair, "EE*SG": every UPU S10 id with service indicator EE and country SG
  (EE123456785SG); the serial and check digit are the `*` (hardware.md §5);
- a prefix, "LP1234" or "RR12": every label that starts with it.

A label in another partner's range is refused to everyone else; a partner with ranges
announces only labels inside them. A partner without ranges announces any label that is in
nobody's range (as before ranges existed). The decision is pure: ranges and a label in, a
refusal (or none) out; it never depends on whether the label exists, so a refusal tells a
partner nothing about another partner's parcels (docs/partners.md, "Label ranges").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from central.parcels.manifest import LabelCheck
from central.partners.keys import PartnerError

# A prefix shorter than this would claim a whole label family ("L": every LP platform id).
MIN_PREFIX_LENGTH = 2
# The longest label (protocols/labels.py MAX_LABEL_LENGTH): a longer prefix matches nothing.
MAX_PREFIX_LENGTH = 32
_S10_PAIR = re.compile(r"([A-Z]{2})\*([A-Z]{2})", re.ASCII)
_PREFIX = re.compile(rf"[A-Z0-9]{{{MIN_PREFIX_LENGTH},{MAX_PREFIX_LENGTH}}}", re.ASCII)
# An S10 id's shape, position by position: 2 letters, 8 digits, a check digit, 2 letters.
_S10_SHAPE = ("A", "A", *("9" * 9), "A", "A")


class LabelRefusal(enum.StrEnum):
    """Why a partner may not announce a label (the code a manifest row's error starts with)."""

    OWNED_BY_ANOTHER_PARTNER = "label_owned_by_another_partner"
    OUTSIDE_YOUR_RANGES = "label_outside_your_ranges"


REFUSAL_TEXT: dict[LabelRefusal, str] = {
    LabelRefusal.OWNED_BY_ANOTHER_PARTNER: (
        "the label is in a range registered to another partner; if it is yours, ask the "
        "network's operator"
    ),
    LabelRefusal.OUTSIDE_YOUR_RANGES: (
        "the label is outside the label ranges registered to you; ask the network's "
        "operator to add its range"
    ),
}


@dataclass(frozen=True)
class LabelRange:
    """One registered range: an S10 pair (`service` and `country` set) or a prefix."""

    text: str
    service: str | None = None
    country: str | None = None

    @classmethod
    def parse(cls, text: str) -> LabelRange:
        """ "EE*SG" or a prefix ("LP1234"), any case; PartnerError saying what a range is."""
        value = text.strip().upper()
        pair = _S10_PAIR.fullmatch(value)
        if pair:
            return cls(value, pair.group(1), pair.group(2))
        if _PREFIX.fullmatch(value):
            return cls(value)
        raise PartnerError(
            f"label range {text!r}: an S10 service indicator and country as XX*CC (e.g. "
            f"EE*SG), or a label prefix of {MIN_PREFIX_LENGTH}-{MAX_PREFIX_LENGTH} letters "
            "and digits (e.g. LP1234)"
        )

    def matches(self, label: str) -> bool:
        """Whether the (normalised) label id is in this range."""
        if self.service is None:
            return label.startswith(self.text)
        return (
            len(label) == len(_S10_SHAPE)
            and label.startswith(self.service)
            and label.endswith(self.country or "")
            and label[2:11].isdigit()
        )

    @property
    def like(self) -> str:
        """The range as a SQL LIKE pattern (a range has no '%' or '_' of its own)."""
        if self.service is None:
            return f"{self.text}%"
        return f"{self.service}{'_' * 9}{self.country}"

    def overlaps(self, other: LabelRange) -> bool:
        """Whether some label could be in both (two partners' ranges must never overlap)."""
        if self.service is not None and other.service is not None:
            return self == other
        if self.service is None and other.service is None:
            return self.text.startswith(other.text) or other.text.startswith(self.text)
        pair, prefix = (self, other) if self.service is not None else (other, self)
        return _s10_could_start_with(pair, prefix.text)


def _s10_could_start_with(pair: LabelRange, prefix: str) -> bool:
    """Whether an S10 id of `pair` could start with `prefix` (its check digit not asked:
    an overlap is refused even when no valid id is in it, which is the safe side)."""
    template = f"{pair.service}{'9' * 9}{pair.country}"
    if len(prefix) > len(template):
        return False
    for position, char in enumerate(prefix):
        if _S10_SHAPE[position] == "9":
            if not char.isdigit():
                return False
        elif char != template[position]:
            return False
    return True


def parse_ranges(text: str) -> list[LabelRange]:
    """Comma-separated ranges ("EE*SG,RR*CN"), each once; PartnerError naming a bad one."""
    ranges: list[LabelRange] = []
    for part in text.split(","):
        if part.strip():
            parsed = LabelRange.parse(part)
            if parsed not in ranges:
                ranges.append(parsed)
    if not ranges:
        raise PartnerError("name at least one label range, e.g. EE*SG or LP1234")
    return ranges


class LabelPolicy:
    """Every partner's registered ranges, and who may announce a label."""

    def __init__(self, ranges: Iterable[tuple[str, LabelRange]]) -> None:
        """`ranges`: (partner, range) pairs, as the store keeps them."""
        self._ranges = list(ranges)
        # Looked up, not scanned: a manifest's 10,000 rows against hundreds of ranges.
        self._pairs: dict[tuple[str, str], set[str]] = {}
        self._prefixes: dict[int, dict[str, set[str]]] = {}
        self._ranged = {holder for holder, _ in self._ranges}
        for holder, label_range in self._ranges:
            if label_range.service is not None and label_range.country is not None:
                key = (label_range.service, label_range.country)
                self._pairs.setdefault(key, set()).add(holder)
            else:
                by_length = self._prefixes.setdefault(len(label_range.text), {})
                by_length.setdefault(label_range.text, set()).add(holder)

    def holders(self, label: str) -> set[str]:
        """The partners whose ranges hold `label` (one at most, ranges never overlapping)."""
        found: set[str] = set()
        if len(label) == len(_S10_SHAPE) and label[2:11].isdigit():
            found |= self._pairs.get((label[:2], label[11:]), set())
        for length, prefixes in self._prefixes.items():
            found |= prefixes.get(label[:length], set())
        return found

    def refusal(self, partner: str | None, label: str) -> LabelRefusal | None:
        """Why `partner` may not announce `label` (None: it may). `partner` None is the
        operator's own import, which is trusted."""
        if partner is None:
            return None
        holders = self.holders(label)
        if holders - {partner}:
            return LabelRefusal.OWNED_BY_ANOTHER_PARTNER
        if partner in self._ranged and partner not in holders:
            return LabelRefusal.OUTSIDE_YOUR_RANGES
        return None

    def check_for(self, partner: str | None) -> LabelCheck:
        """A manifest's label check for `partner`: the row error's message, or None."""

        def check(label: str) -> str | None:
            refusal = self.refusal(partner, label)
            return None if refusal is None else f"{refusal}: {REFUSAL_TEXT[refusal]}"

        return check

    def overlapping(self, partner: str, label_range: LabelRange) -> str | None:
        """The other partner whose range `label_range` overlaps, if any."""
        for holder, held in self._ranges:
            if holder != partner and held.overlaps(label_range):
                return holder
        return None
