"""What every key of site.toml means: one sentence each, walked with the models' own defaults.

The descriptions live here, beside edge/config.py rather than in it, so the template that
`lockernet edge config init` writes (edge/config_template.py) and the reference in
docs/site-config.md come from one table. `keys()` walks the models (edge/config.py): a key a
model gains without a description here, or a description of a key no model has, fails
tests/edge/test_config_init.py, and docs/site-config.md is checked against `reference()`.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from edge.config import SiteConfig

# Dotted key -> what it is, its unit and what the default means. A list of tables is
# written `section[].key` (`[[slots]]`, `[[lock_bus.rs485_boards]]`).
DESCRIPTIONS: dict[str, str] = {
    "site_id": "The site's id (letters, digits, - and _; up to 32): the name central, the "
    "broker's ACL and the site's certificate know it by.",
    "kind": '"locker" (doors on lock boards: needs [lock_bus] and [[slots]]) or "counter" '
    "(a staffed collection point: needs shelf_capacity).",
    "state_dir": "Folder of the site's store (SITE.sqlite3), its lock file and the "
    "technician's control socket; created if missing. Relative paths are read against this "
    "file's folder.",
    "central_public_key": "Central's public signing key (PEM, `central.pub` in the bundle of "
    "`lockernet pki issue-site`): pickup codes, courier badges and commands are checked "
    "against it offline.",
    "shelf_capacity": "A counter's shelf places (parcels it can hold); 0 on a locker.",
    # ---- broker
    "broker.host": "The MQTT broker's host name or address.",
    "broker.port": "The broker's TCP port: 8883 for TLS (the production broker), 1883 plain.",
    "broker.username": "MQTT user name, for a broker with passwords (none with a client "
    "certificate: the certificate's name is the user).",
    "broker.password": "MQTT password, with username.",
    "broker.ca_file": "The CA certificate (PEM) the broker's certificate is checked against; "
    "setting it turns TLS on.",
    "broker.cert_file": "This site's client certificate (PEM), with key_file.",
    "broker.key_file": "This site's private key (PEM, owner-only), with cert_file.",
    "broker.topic_root": "The first levels of every topic; the same at central and every site.",
    "broker.keepalive_s": "MQTT keep-alive, seconds (5-600): how soon a dead link is noticed.",
    # ---- lock bus
    "lock_bus.port": "The lock boards' serial port (e.g. /dev/ttyUSB0, a /dev/serial/by-id/ "
    "path, or a pyserial URL), read against the working directory if relative.",
    "lock_bus.family": 'The lock-board family: "cu16" (Kerong CU16, 16 locks a board), '
    '"cu48" (Kerong CU48, 48 locks) or "rs485-8a" (generic 0x8A/0x80 boards, 8-50 channels).',
    "lock_bus.baud": "Serial speed, baud; unset: the family's documented rate (CU16 and "
    "CU48 19200, rs485-8a 9600).",
    "lock_bus.polarity": 'CU16 only: which lock-feedback bit means locked ("one_is_locked" or '
    '"zero_is_locked"), as the board\'s wiring has it.',
    "lock_bus.unlock_reply": "CU16 only: true if the boards answer an unlock with a status "
    "frame (some firmware does).",
    "lock_bus.boards": "CU16 (ids 0-15) and CU48 (ids 0-9): the board ids on the bus, as set "
    "on each board.",
    "lock_bus.rs485_boards[].address": "rs485-8a only: the board's DIP-switch address (1-31).",
    "lock_bus.rs485_boards[].channels": "rs485-8a only: channels (locks) the board drives, 8-50.",
    "lock_bus.rs485_boards[].status_bytes": "rs485-8a only: bytes of door status in the "
    "board's query-all reply; unset: as many as its channels need.",
    "lock_bus.rs485_boards[].open_level": 'rs485-8a only: the feedback level meaning "door '
    'open" ("high" or "low"), as the locks have it.',
    "lock_bus.poll_interval_s": "Seconds between readings of every board (door and sensor "
    "changes are seen this late at most).",
    "lock_bus.reply_timeout_s": "Seconds a board has to answer before the try counts as lost.",
    "lock_bus.retries": "Tries of one query before a board is reported not answering (1-10).",
    "lock_bus.echo": 'Whether the RS485 adapter echoes what the host sends: "auto" (detected '
    'at each opening of the port), "on" or "off".',
    # ---- scanner
    "scanner.port": "The QR/barcode scanner's serial port (USB-CDC, e.g. /dev/ttyACM0, or "
    "a pyserial URL such as socket://host:port).",
    "scanner.baud": "The scanner's serial speed, baud (ignored by USB-CDC scanners).",
    "scanner.suffix": 'What ends each code the scanner sends: "CR", "CRLF" or "LF", as the '
    "scanner is set up.",
    "scanner.prefix": "Text the scanner sends before each code, if set up to (removed).",
    "scanner.strip_aim_id": "true if the scanner sends an AIM symbology id (]Q1 ...) before "
    "each code (removed).",
    "scanner.max_length": "Longest line accepted, characters (16-4096); longer ones are noise.",
    # ---- slots
    "slots[].id": "The slot's id as printed on its door (e.g. A01); unique at the site.",
    "slots[].board": "The board (its id, or rs485-8a address) whose lock opens this door.",
    "slots[].lock": "The lock (channel) on that board, 1-based.",
    "slots[].size": "The compartment's size class: S, M, L or XL.",
    # ---- timing
    "timing.door_left_open_s": "Seconds a door may stay open before it is reported left open.",
    "timing.courier_session_s": "Seconds a courier's badge session lasts after the badge scan.",
    "timing.scan_failures_before_lockout": "Bad codes within scan_failure_window_s that lock "
    "the scanner out.",
    "timing.scan_failure_window_s": "Seconds over which bad codes are counted.",
    "timing.scan_reread_window_s": "Seconds within which a re-read of the same code is the "
    "same scan (presentation scanners re-read about once a second).",
    "timing.lockout_s": "Seconds the scanner stays locked out after too many bad codes.",
    "timing.remote_open_limit": "Remote door openings allowed within remote_open_window_s "
    "before the mass-open breaker refuses more (a technician's maintenance session lifts it).",
    "timing.remote_open_window_s": "Seconds over which remote openings are counted.",
    "timing.maintenance_s": "Seconds a maintenance session lasts unless given.",
    "timing.outbox_inflight": "Events sent to central but not yet acknowledged, at most.",
    "timing.republish_after_s": "Seconds before an unacknowledged event is sent again.",
    "timing.sent_retention_s": "Seconds acknowledged events are kept in the store (7 days).",
    "timing.reconnect_min_s": "First wait before reconnecting to the broker, seconds.",
    "timing.reconnect_max_s": "Longest wait between reconnection attempts, seconds (with "
    "jitter, so sites do not reconnect together).",
    "timing.timer_interval_s": "Seconds between the time-driven duties (lapsed reservations, "
    "doors left open, lockouts).",
    "timing.heartbeat_interval_s": "Seconds between heartbeats to central, which calls a site "
    "offline after a few missed ones.",
    # ---- metrics and logs (docs/metrics.md)
    "metrics.listen": 'HOST:PORT to serve Prometheus metrics on (e.g. "127.0.0.1:9101"); '
    "unset: not served.",
    "metrics.refresh_s": "Seconds between updates of the gauges read from the store and the "
    "site's state (outbox depth, link, faults); scans and unlocks are counted as they happen.",
    "log_format": '"text" (for a person, journalctl) or "json" (one object per line, for a log '
    "collector); the level is `lockernet edge run --log-level`.",
}


@dataclass(frozen=True)
class Key:
    """One key of site.toml: where it is, its type, default and meaning."""

    path: str  # dotted; `[]` after a list of tables
    type: str  # as TOML sees it: string, integer, ..., or the allowed values
    required: bool
    default: Any  # the model's default (None: unset); meaningless if required
    description: str

    @property
    def section(self) -> str:
        """The table the key is written in ("" for the top level)."""
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


def _tables(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, whether as a list of tables) or (None, False)."""
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        model, _ = _tables(item)
        return model, model is not None
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model, many = _tables(arg)
            if model is not None:
                return model, many
        return None, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _type_name(annotation: Any) -> str:
    """The TOML type of a plain field, or its allowed values."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(f'"{v}"' if isinstance(v, str) else str(v).lower()
                          for v in typing.get_args(annotation))  # fmt: skip
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " | ".join(_type_name(a) for a in parts)
    if typing.get_origin(annotation) is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(f'"{m.value}"' for m in annotation)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _walk(model: type[BaseModel], prefix: str) -> list[Key]:
    found: list[Key] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        inner, many = _tables(field.annotation)
        if inner is not None:
            found.extend(_walk(inner, f"{path}[]." if many else f"{path}."))
            continue
        default = field.get_default(call_default_factory=True)
        found.append(
            Key(
                path=path,
                type=_type_name(field.annotation),
                required=default is PydanticUndefined,
                default=None if default is PydanticUndefined else default,
                description=DESCRIPTIONS.get(path, ""),
            )
        )
    return found


def keys() -> list[Key]:
    """Every key SiteConfig reads, in the models' order, with its description ("" if it
    has none here: a gap the tests report)."""
    return _walk(SiteConfig, "")


def sections() -> list[tuple[str, list[Key]]]:
    """`keys()` grouped by the table they are written in, in the order a TOML file needs
    them: the top level with its lists of tables ([[slots]]) first, then each section
    followed by its own lists of tables."""
    grouped: dict[str, list[Key]] = {}
    for key in keys():
        grouped.setdefault(key.section, []).append(key)

    def parent(section: str) -> str:
        return section[:-2].rpartition(".")[0]

    ordered: list[tuple[str, list[Key]]] = []
    for section, found in grouped.items():
        if section.endswith("[]"):
            continue
        ordered.append((section, found))
        ordered += [(s, k) for s, k in grouped.items() if s.endswith("[]") and parent(s) == section]
    return ordered


def toml_value(value: Any) -> str:
    """`value` written as TOML (a string quoted, a bool lower case, a list in brackets)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _default_text(key: Key) -> str:
    if key.required:
        return "required"
    if key.default is None:
        return "unset"
    return f"`{toml_value(key.default)}`"


def reference() -> str:
    """docs/site-config.md: every key, its type, default and meaning, section by section."""
    lines = [
        "# site.toml: every key",
        "",
        "<!-- Generated from edge/config_reference.py and the models in edge/config.py by",
        "     `lockernet edge config reference -o docs/site-config.md`; do not edit by hand. -->",
        "",
        "The site agent's configuration (`lockernet edge run --config site.toml`). "
        "`lockernet edge config init` writes a commented template of all of it for a "
        "board family and layout. Any key is overridden by an environment variable "
        "`LOCKERNET_EDGE__<SECTION>__<KEY>` (e.g. `LOCKERNET_EDGE__BROKER__HOST`); relative "
        "paths (`state_dir`, `central_public_key`, the TLS files) are read against the "
        "file's folder; an unknown or bad key stops the agent with an error naming it.",
    ]
    for section, section_keys in sections():
        lines += ["", f"## {_section_title(section)}", ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for key in section_keys:
            meaning = key.description.replace("|", "\\|")
            kind = key.type.replace("|", "\\|")
            lines.append(f"| `{key.name}` | {kind} | {_default_text(key)} | {meaning} |")
    return "\n".join(lines) + "\n"


def _section_title(section: str) -> str:
    if not section:
        return "top level"
    if section.endswith("[]"):
        return f"`[[{section[:-2]}]]` (one table per item)"
    return f"`[{section}]`"
