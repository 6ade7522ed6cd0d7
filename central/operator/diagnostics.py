"""`lockernet diag SITE`: a site's diagnostic report, as the site sent it, indented."""

from __future__ import annotations

from typing import Any


def format_report(value: Any, depth: int = 1) -> str:
    """A report's JSON value as indented `key: value` lines, lists as `- item`."""
    pad = "  " * depth
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.append(format_report(item, depth + 1))
            else:
                lines.append(f"{pad}{key}: {item}")
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(
            f"{pad}-\n{format_report(item, depth + 1)}"
            if isinstance(item, dict)
            else f"{pad}- {item}"
            for item in value
        )
    return f"{pad}{value}"
