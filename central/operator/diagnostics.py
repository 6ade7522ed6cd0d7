"""`lockernet diag SITE`: a site's diagnostic report, as the site sent it, made readable.

A site agent's report (boards, slots, link, store, ...) is shown as the same one-screen
summary `lockernet edge diag` prints on the device (protocols/site_report.py); any other
value (an older agent's, a partial one) as indented `key: value` lines. --json prints the
report itself.
"""

from __future__ import annotations

from typing import Any

from protocols.site_report import looks_like_site_report, summary


def format_report(value: Any, depth: int = 1) -> str:
    """The readable form of a report: a site agent's report as its summary, any other JSON
    value as indented `key: value` lines, lists as `- item`."""
    if depth == 1 and looks_like_site_report(value):
        return summary(value)
    return _indented(value, depth)


def _indented(value: Any, depth: int) -> str:
    pad = "  " * depth
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.append(_indented(item, depth + 1))
            else:
                lines.append(f"{pad}{key}: {item}")
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(
            f"{pad}-\n{_indented(item, depth + 1)}" if isinstance(item, dict) else f"{pad}- {item}"
            for item in value
        )
    return f"{pad}{value}"
