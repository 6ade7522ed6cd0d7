"""The wire contract's limits and its schema version are defined once (protocols/limits.py,
protocols/messages.py); edge, central and the simulator import them, never repeat them."""

from __future__ import annotations

import ast
from pathlib import Path

from protocols import limits
from protocols.messages import Text

REPO = Path(__file__).resolve().parents[2]
PARTS = ("protocols", "edge", "central", "hw_sim")
HOMES = {Path("protocols/limits.py"), Path("protocols/messages.py")}


def repeated_facts(tree: ast.AST) -> list[str]:
    """What in `tree` restates a limit: a cut at the text limit (`s[:500]`), the identifier
    pattern as a literal, or a SCHEMA_VERSION of its own."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Slice)
            and node.lower is None
            and isinstance(node.upper, ast.Constant)
            and node.upper.value == limits.TEXT_MAX_CHARS
        ):
            found.append(f"line {node.lineno}: a cut at {limits.TEXT_MAX_CHARS}: use fit_text")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if limits.IDENT_PATTERN.strip("^$") in node.value:
                found.append(f"line {node.lineno}: the identifier pattern: use IDENT_PATTERN")
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if "SCHEMA_VERSION" in names:
                found.append(f"line {node.lineno}: a SCHEMA_VERSION of its own")
    return found


def test_no_part_restates_a_limit_or_the_schema_version() -> None:
    offending = {}
    for part in PARTS:
        for path in sorted((REPO / part).rglob("*.py")):
            relative = path.relative_to(REPO)
            if relative in HOMES:
                continue
            found = repeated_facts(ast.parse(path.read_text(), filename=str(path)))
            if found:
                offending[str(relative)] = found
    assert offending == {}, offending


def test_the_scan_finds_each_kind_of_repetition() -> None:
    planted = ast.parse(
        'detail = error[:500]\nIDENT = r"[A-Za-z0-9_.:-]{1,64}"\nSCHEMA_VERSION = 1\n'
    )
    assert len(repeated_facts(planted)) == 3


def test_fit_text_makes_any_text_fit_the_contract() -> None:
    from pydantic import TypeAdapter

    text = TypeAdapter(Text).validate_python(limits.fit_text("x" * 10_000))
    assert len(text) == limits.TEXT_MAX_CHARS
