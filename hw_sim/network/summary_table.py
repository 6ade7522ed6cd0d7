"""A summary's figures on the terminal: a rich table, or plain `key  value` lines where the
output is not a terminal (CI, a log file, a pipe), one a line, easy to grep."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

VERDICT_STYLE = {"clean": "bold green", "failed": "bold red"}


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print `summary` (a flat dict; lists and dicts shown as JSON) on `console` (stdout's
    by default): a table on a terminal, else one `key  value` line per entry."""
    console = console if console is not None else Console()
    if not console.is_terminal:
        width = max((len(k) for k in summary), default=0)
        for key, value in summary.items():
            # Plain lines: no wrapping, no markup, whatever the console's width.
            console.out(f"{key.ljust(width)}  {_shown(value)}", highlight=False)
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("figure", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        style = VERDICT_STYLE.get(str(value), "") if key == "verdict" else ""
        # Text, not a string: a value such as "[0]" is shown, not read as rich markup.
        table.add_row(key, Text(_cell(value)), style=style or None)
    console.print(table)


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _cell(value: Any) -> str:
    # On a terminal a list (the faults) or a dict (alarms by kind) reads best one entry a line.
    if isinstance(value, list):
        return "\n".join(item if isinstance(item, str) else json.dumps(item) for item in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_shown(v)}" for k, v in value.items())
    return str(value)
