"""`lockernet edge config init`: a commented site.toml for a board family and a layout.

The template names every key the agent reads, each with a comment saying what it is, its
unit and its default (from edge/config_reference.py and the models' defaults). The keys it
must set (the site, the broker's TLS files, the bus, the scanner, the slots) are set; every
other key is written commented out at its default. The text is checked with the agent's own
loader before it is written, so what `init` writes is what `edge run` accepts.
"""

from __future__ import annotations

import os
import textwrap
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config import parse_config
from edge.config_reference import Key, sections, toml_value
from edge.drivers.boards import dialect_for
from edge.drivers.boards.base import FAMILY_KEYS
from edge.errors import ConfigError
from protocols.boards import BoardFamily, facts, rs485
from protocols.messages import SiteKind, SizeClass

COMMENT_WIDTH = 92
DEFAULT_SITE = "L0001"
DEFAULT_BROKER = ("localhost", 8883)  # the production broker's TLS port
LOCK_BUS_PORT = "/dev/ttyUSB0"  # the usual USB-RS485 adapter
SCANNER_PORT = "/dev/ttyACM0"  # the usual USB-CDC scanner
# The file names of `lockernet pki issue-site`'s bundle, read against this file's folder.
BUNDLE_FILES = {"ca_file": "ca.pem", "cert_file": "site.pem", "key_file": "site.key"}
# What a commented-out key that is unset by default would be set to.
EXAMPLES: dict[str, Any] = {
    "broker.username": "site-user",
    "broker.password": "change-me",
    "lock_bus.rs485_boards[].status_bytes": 2,
}


@dataclass(frozen=True)
class SiteLayout:
    """What the installer knows: the site, its boards and the sizes of its compartments.

    `sizes` are one board's compartments in lock order (the same on every board); a locker
    with fewer compartments than locks leaves the last locks unused. `channels` is an
    rs485-8a board's channel count."""

    site: str = DEFAULT_SITE
    kind: SiteKind = SiteKind.LOCKER
    family: BoardFamily = BoardFamily.CU16
    boards: int = 1
    sizes: tuple[SizeClass, ...] = ()
    channels: int = 16
    shelf_capacity: int = 0
    broker: tuple[str, int] = DEFAULT_BROKER
    lock_port: str = LOCK_BUS_PORT
    scanner_port: str = SCANNER_PORT
    state_dir: str | None = None  # None: the key stays commented, at its default
    command: str = field(default="", compare=False)  # how the file was asked for

    def board_ids(self) -> list[int]:
        """The family's first ids: CU16/CU48 0.., rs485-8a 1.. (as the boards ship)."""
        ids = facts(self.family).board_ids
        return list(ids[: self.boards])

    def locks_per_board(self) -> int:
        if self.family is BoardFamily.RS485_8A:
            return self.channels
        return facts(self.family).locks_per_board

    def slots(self) -> list[dict[str, Any]]:
        """One table per compartment: id (board letter + lock number), board, lock, size."""
        sizes = self.sizes or (SizeClass.M,) * self.locks_per_board()
        return [
            {"id": f"{chr(ord('A') + n)}{lock:02d}", "board": board, "lock": lock, "size": size}
            for n, board in enumerate(self.board_ids())
            for lock, size in enumerate(sizes, start=1)
        ]


def parse_sizes(text: str) -> tuple[SizeClass, ...]:
    """`S=8,M=6,L=2` -> eight S, six M, two L, in lock order. ConfigError naming --layout
    if a size or a count is bad."""
    sizes: list[SizeClass] = []
    for part in text.split(","):
        size, sep, count = part.strip().partition("=")
        try:
            size_class = SizeClass(size.strip().upper())
        except ValueError:
            known = ", ".join(s.value for s in SizeClass)
            raise ConfigError(
                f"--layout {text!r}: {size.strip()!r} is not a size class ({known})"
            ) from None
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise ConfigError(f"--layout {text!r}: write SIZE=COUNT, e.g. S=8,M=6,L=2")
        sizes += [size_class] * int(count)
    return tuple(sizes)


def check_layout(layout: SiteLayout) -> None:
    """ConfigError naming the option if the boards or the layout do not fit the family."""
    if layout.kind is SiteKind.COUNTER:
        if layout.shelf_capacity < 1:
            raise ConfigError("a counter needs --shelf-capacity of at least 1")
        return
    family = facts(layout.family)
    if not 1 <= layout.boards <= family.max_boards:
        raise ConfigError(
            f"--boards {layout.boards}: a {family.title} bus carries 1-{family.max_boards} "
            f"boards ({family.source})"
        )
    if layout.family is BoardFamily.RS485_8A and not (
        rs485.MIN_CHANNELS <= layout.channels <= rs485.MAX_CHANNELS
    ):
        raise ConfigError(
            f"--channels {layout.channels}: a {family.title} has "
            f"{rs485.MIN_CHANNELS}-{rs485.MAX_CHANNELS} channels"
        )
    if len(layout.sizes) > layout.locks_per_board():
        raise ConfigError(
            f"--layout has {len(layout.sizes)} compartments a board, but a {family.title} "
            f"drives {layout.locks_per_board()} {family.lock_noun}s"
        )


def render(layout: SiteLayout) -> str:
    """The commented site.toml text for `layout` (checked with the agent's loader)."""
    check_layout(layout)
    values = _values(layout)
    skipped = _skipped(layout)
    out = _header(layout)
    for section, section_keys in sections():
        out += _section(layout, section, section_keys, values, skipped)
    text = "\n".join(out).rstrip() + "\n"
    parse_config(tomllib.loads(text), source="the template")  # never write what run refuses
    return text


def write(layout: SiteLayout, path: Path, force: bool = False) -> str:
    """Write the template to `path` (whole or not at all); ConfigError if it exists and
    `force` is not set, or if the layout is bad. Returns the text written."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(f"{path} exists: pass --force to overwrite it")
    text = render(layout)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return text


def _values(layout: SiteLayout) -> dict[str, Any]:
    """The keys the template sets (dotted path -> value); the rest stay commented."""
    host, port = layout.broker
    values: dict[str, Any] = {
        "site_id": layout.site,
        "kind": layout.kind.value,
        "central_public_key": "central.pub",
        "broker.host": host,
        "broker.port": port,
        **{f"broker.{k}": v for k, v in BUNDLE_FILES.items()},
        "scanner.port": layout.scanner_port,
        "scanner.suffix": "CR",
    }
    if layout.state_dir is not None:
        values["state_dir"] = layout.state_dir
    if layout.kind is SiteKind.COUNTER:
        values["shelf_capacity"] = layout.shelf_capacity
        return values
    values["lock_bus.port"] = layout.lock_port
    values["lock_bus.family"] = layout.family.value
    if layout.family is BoardFamily.RS485_8A:
        values["lock_bus.rs485_boards"] = [
            {"address": b, "channels": layout.channels} for b in layout.board_ids()
        ]
    else:
        values["lock_bus.boards"] = layout.board_ids()
    values["slots"] = layout.slots()
    return values


def _skipped(layout: SiteLayout) -> dict[str, str]:
    """Sections and keys this site does not read -> why (another family's, or a counter's)."""
    if layout.kind is SiteKind.COUNTER:
        return {
            "lock_bus": "a counter has no lock bus",
            "lock_bus.rs485_boards[]": "a counter has no lock bus",
            "slots[]": "a counter has shelves, not slots",
        }
    dialect = dialect_for(layout.family)
    skipped = {
        f"lock_bus.{key}": f"not read on a {layout.family.value} bus"
        for key in FAMILY_KEYS - dialect.reads
    }
    if "rs485_boards" in skipped:
        skipped["lock_bus.rs485_boards[]"] = skipped.pop("lock_bus.rs485_boards")
    return skipped


def _header(layout: SiteLayout) -> list[str]:
    if layout.kind is SiteKind.COUNTER:
        what = f"a staffed collection point with {layout.shelf_capacity} shelf places"
    else:
        family = facts(layout.family)
        what = (
            f"a locker with {len(layout.slots())} compartments on {layout.boards} lock "
            f"board(s), family {layout.family.value} ({family.title})"
        )
    lines = [f"site.toml for {layout.site}: {what}."]
    if layout.command:
        lines.append(f"Written by `{layout.command}`.")
    lines.append(
        "Every key the site agent reads is below with what it is, its unit and its default. "
        "Set keys are what this site needs; a commented-out key shows its default. Relative "
        "paths are read against this file's folder; LOCKERNET_EDGE__SECTION__KEY=value "
        "overrides any key. Reference: docs/site-config.md. Check the file with "
        "`lockernet edge config check --config site.toml`."
    )
    return [*_comment(lines), ""]


def _section(
    layout: SiteLayout,
    section: str,
    section_keys: list[Key],
    values: dict[str, Any],
    skipped: dict[str, str],
) -> list[str]:
    out: list[str] = []
    if section in skipped:
        names = ", ".join(k.name for k in section_keys)
        label = f"[[{section[:-2]}]]" if section.endswith("[]") else f"[{section}]"
        return [f"# {label} ({names}): {skipped[section]}.", ""]
    if section.endswith("[]"):
        # A list of tables is written as one array of inline tables (one item a line), set
        # under its parent: the keys' meanings come first.
        name = section[:-2].rpartition(".")[2]
        out += _comment([f"{name}: one table per item, with these keys:"])
        for key in section_keys:
            out += _comment([f"  {key.name}: {key.description} ({_default(key)})"])
        items = values.get(section[:-2], [])
        out.append(f"{name} = [")
        out += [f"  {_inline(item)}," for item in items]
        out += ["]", ""]
        return out
    if section:
        out += [f"[{section}]"]
    for key in section_keys:
        if key.path in skipped:
            out += [f"# {key.name}: {skipped[key.path]}."]
            continue
        out += _comment([f"{key.description} ({_default(key)})"])
        if key.path in values:
            out.append(f"{key.name} = {toml_value(values[key.path])}")
        else:
            shown = key.default if key.default is not None else _example(layout, key)
            out.append(f"# {key.name} = {toml_value(shown)}")
    return [*out, ""]


def _default(key: Key) -> str:
    if key.required:
        return "required"
    if key.default is None:
        return "default: unset"
    return f"default: {toml_value(key.default)}"


def _example(layout: SiteLayout, key: Key) -> Any:
    if key.path == "lock_bus.baud":
        return facts(layout.family).baud_rate
    return EXAMPLES.get(key.path, "")


def _inline(item: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in item.items()) + " }"


def _comment(paragraphs: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for paragraph in paragraphs:
        indent = " " * (len(paragraph) - len(paragraph.lstrip()))
        lines += textwrap.wrap(
            paragraph,
            COMMENT_WIDTH - 2,
            initial_indent="# ",
            subsequent_indent="# " + indent + ("  " if indent else ""),
        )
    return lines
