"""Rules of the layout around the uplink and the host, written as tests: diagnostics know the
site's parts, not the agent; nothing of ours reaches into paho's private API."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module `tree` imports, at the top, lazily or under TYPE_CHECKING."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def private_client_uses(tree: ast.AST) -> list[str]:
    """`<something>client._name` in `tree`: a private attribute of a paho client."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and ast.unparse(node.value).lower().endswith("client")
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_diagnostics_import_nothing_of_the_agent() -> None:
    path = REPO / "edge" / "host" / "diagnostics.py"
    names = imported_modules(ast.parse(path.read_text()))
    assert not [n for n in names if n == "edge.agent" or n.startswith("edge.agent.")], names
    assert "edge.uplink.mqtt" in names  # the parts it asks, by their own modules


def test_no_private_paho_api() -> None:
    offending = {}
    for part in ("edge", "central", "hw_sim"):
        for path in sorted((REPO / part).rglob("*.py")):
            found = private_client_uses(ast.parse(path.read_text(), filename=str(path)))
            if found:
                offending[str(path.relative_to(REPO))] = found
    assert offending == {}, offending


def test_the_scans_see_what_they_look_for() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edge.agent import X\n"
        "def f():\n    client._reset_sockets()\n    self._client._sock.close()\n"
    )
    assert "edge.agent" in imported_modules(tree)
    assert len(private_client_uses(tree)) == 2
