"""Where the operator's commands print: a rich console on stdout.

On a terminal rich fits tables to its width. Anywhere else (a pipe, a log file, a test) the
output is plain text, and wide enough that no table wraps a cell: a line of the fleet table
stays one line for grep.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table

# Columns used off a terminal; a table takes only the width its cells need.
WIDTH_OFF_TERMINAL = 200


def console() -> Console:
    """A console on the current sys.stdout (so a test's capture sees it too)."""
    # No markup: a fault's detail or a source is a site's text, printed as it is.
    probe = Console(highlight=False, markup=False)
    if probe.is_terminal:
        return probe
    return Console(highlight=False, markup=False, width=WIDTH_OFF_TERMINAL)


def plain_text(*renderables: RenderableType) -> str:
    """The text `console()` would print off a terminal: for logs and tests."""
    out = io.StringIO()
    Console(
        file=out, width=WIDTH_OFF_TERMINAL, highlight=False, markup=False, color_system=None
    ).print(*renderables)
    return out.getvalue().rstrip("\n")


def table(*headers: str, numeric: tuple[str, ...] = ()) -> Table:
    """A table in the operator commands' one style; `numeric` columns are right-aligned."""
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header in headers:
        grid.add_column(header, justify="right" if header in numeric else "left", no_wrap=True)
    return grid
