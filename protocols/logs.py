"""How every lockernet program writes its log: one line per record, as text or as JSON.

    configure_logging("INFO", "json")   # central.toml service.log_format, site.toml log_format

"text" is for a person at a terminal or reading journalctl; "json" is one JSON object per
line (python-json-logger) for a log collector, with the same fields under fixed names:
`time` (ISO 8601, UTC), `level`, `logger`, `message`, and `exc_info` when a traceback is
attached. Both go to stderr, which systemd hands to the journal.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record's attributes a JSON line carries, renamed to the names a collector expects.
JSON_FIELDS = ("asctime", "levelname", "name", "message")
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
# Libraries that log every request at INFO: httpx writes "HTTP Request: POST ... 204" for
# each webhook delivery (hundreds of thousands a day). Their warnings still show; what the
# requests came to is logged by the caller, once per change (central/partners/sender.py).
QUIET_LOGGERS = ("httpx", "httpcore")


def json_formatter() -> logging.Formatter:
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and any
    `extra=` fields the call gave."""
    formatter = JsonFormatter(
        JSON_FIELDS,
        rename_fields=JSON_RENAMES,
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    formatter.converter = time.gmtime
    return formatter


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send the root logger's records at `level` ("DEBUG", "INFO", ...) to `stream` (stderr)
    in `log_format` ("text" or "json"), replacing any handler set before; the QUIET_LOGGERS
    log only warnings and worse. ValueError names an unknown format or level."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is neither 'text' nor 'json'")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    quiet_chatty_libraries()


def quiet_chatty_libraries() -> None:
    """Let the QUIET_LOGGERS (httpx, httpcore) through at WARNING and worse only, whatever
    the root logger's level: for a program that sets up its logging some other way."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
