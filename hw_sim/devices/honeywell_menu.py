"""Honeywell serial menu commands, as a simulated scanner answers them (hardware.md §3).

A command is `SYN M CR` + Tag SubTag Data [, SubTag Data] [; Tag SubTag Data] ... + storage
(`!` RAM, `.` flash). Tag and SubTag are three case-insensitive characters each. In place of
the Data, `?` asks for the current value, `^` for the default and `*` for the range; in place
of the SubTag a query covers every setting of the Tag, in place of the Tag every setting.
The scanner echoes the command with a status character before each punctuation mark: ACK
(done), ENQ (unknown Tag or SubTag) or NAK (a value out of range); a query's echo carries the
answer in place of the query character.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from protocols.scanner import (
    ACK,
    ENQ,
    MENU_QUERIES,
    MENU_QUERY_CURRENT,
    MENU_QUERY_DEFAULT,
    NAK,
)

TAG_LENGTH = 3
NAME_LENGTH = 2 * TAG_LENGTH  # Tag + SubTag
_SEPARATORS = re.compile(rb"([,;])")


@dataclass(frozen=True)
class MenuSetting:
    """One Tag+SubTag a scanner knows. `write` None: a report that can only be queried."""

    default: str
    range_text: str  # what `*` answers: "0-3" a range, "0|3" a list (the manuals' forms)
    read: Callable[[], str]
    write: Callable[[str], None] | None = None
    allowed: frozenset[str] = frozenset()

    def answer(self, data: str) -> tuple[int, str]:
        """(status, the data to echo) for one setting's Data field."""
        if data in MENU_QUERIES:
            return ACK, self._query(data)
        if self.write is None:
            # A report (REVINF): an empty Data field asks for it, as a query does.
            return (ACK, self.read()) if not data else (NAK, data)
        if data not in self.allowed:
            return NAK, data
        self.write(data)
        return ACK, data

    def _query(self, query: str) -> str:
        if query == MENU_QUERY_CURRENT:
            return self.read()
        return self.default if query == MENU_QUERY_DEFAULT else self.range_text


def answer_menu(body: bytes, settings: Mapping[str, MenuSetting]) -> bytes:
    """The echo of a menu command's body (between `SYN M CR` and its storage character),
    with a status character before each `,` or `;` and at the end."""
    parts = _SEPARATORS.split(body)
    out = bytearray()
    tag = ""
    for index in range(0, len(parts), 2):
        piece = parts[index].decode("ascii", "replace")
        if not tag and piece[:1] in MENU_QUERIES:
            echo = _group(piece[0], settings, "")  # a query in place of the Tag
        elif not tag:
            tag = piece[:TAG_LENGTH].upper()
            echo = piece[:TAG_LENGTH] + _answer_piece(tag, piece[TAG_LENGTH:], settings)
        else:
            echo = _answer_piece(tag, piece, settings)
        out += echo.encode("ascii", "replace")
        if index + 1 < len(parts):
            separator = parts[index + 1]
            out += separator
            if separator == b";":
                tag = ""
    return bytes(out)


def _answer_piece(tag: str, piece: str, settings: Mapping[str, MenuSetting]) -> str:
    """One SubTag+Data, or a query in place of the SubTag, echoed with its statuses."""
    if piece[:1] in MENU_QUERIES:  # every setting of this Tag
        if not any(name.startswith(tag) for name in settings):
            return piece + chr(ENQ)
        return _group(piece[0], settings, tag)
    subtag, data = piece[:TAG_LENGTH], piece[TAG_LENGTH:]
    setting = settings.get(tag + subtag.upper())
    if setting is None:
        return piece + chr(ENQ)
    status, echo = setting.answer(data)
    return subtag + echo + chr(status)


def _group(query: str, settings: Mapping[str, MenuSetting], tag: str) -> str:
    """A query over several settings: the first of a Tag with its Tag, the rest by SubTag,
    as the manuals show ("CBRENA1[ACK],SSX0[ACK],..."); Tags apart with `;`."""
    by_tag: dict[str, list[str]] = {}
    for name in sorted(settings):
        if name.startswith(tag):
            by_tag.setdefault(name[:TAG_LENGTH], []).append(name)
    groups = []
    for each_tag, names in by_tag.items():
        entries = [name[TAG_LENGTH:] + settings[name].answer(query)[1] + chr(ACK) for name in names]
        groups.append(each_tag[len(tag) :] + ",".join(entries))
    return ";".join(groups)
