"""The layout's rules, written as tests (docs/architecture: the parts and who may import whom).

- `edge` (a site's Pi) and `central` (beside the broker) never import each other: they meet
  only on the wire, through `protocols`.
- `protocols` imports none of `edge`, `central` or `hw_sim`: it is the contract both sides share.
- `hw_sim.devices` and `hw_sim.people` (simulated hardware and the people in front of it) import
  only `protocols` and each other (and `hw_sim.errors`): they stand for the world outside a
  site and must not know how our software works inside.
- No product file over 600 lines and no class over 300 lines: a newcomer reads a part whole.

Every `.py` file is read with `ast`, so an import inside a function (a lazy import) counts as
much as one at the top, and a relative import is resolved to the module it names.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PARTS = ("protocols", "edge", "central", "hw_sim")
MAX_FILE_LINES = 600
MAX_CLASS_LINES = 300


@dataclass(frozen=True)
class Import:
    """One import statement found in a module: who imports what, and where."""

    module: str  # dotted name of the importing module, e.g. "edge.uplink.mqtt"
    target: str  # dotted name it imports, e.g. "central.store.schema"
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    """`edge/uplink/mqtt.py` -> "edge.uplink.mqtt"; a package's `__init__.py` names the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(part: str) -> list[Path]:
    """Every .py file under one top-level part of the repository, sorted."""
    return sorted((ROOT / part).rglob("*.py"))


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every module `path` imports, anywhere in the file, relative imports resolved.

    `from x import y` yields both "x" and "x.y" (y may be a module); the rules below match by
    prefix, so the extra name never hides a forbidden import and never invents one.
    """
    name = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(name, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `from . import x` in a.b.c means package a.b; in a.b/__init__.py, a.b itself.
                package = name.split(".") if is_package else name.split(".")[:-1]
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append(Import(name, base, node.lineno))
            found.extend(Import(name, f"{base}.{alias.name}", node.lineno) for alias in node.names)
    return found


def under(target: str, *packages: str) -> bool:
    """True if the dotted name `target` is one of `packages` or inside one of them."""
    return any(target == p or target.startswith(p + ".") for p in packages)


def imports_in(part: str) -> list[Import]:
    return [imp for path in python_files(part) for imp in imports_of(path)]


def listing(offending: list[Import]) -> str:
    """One line per offending statement (`from x import y` is found as both x and x.y)."""
    seen: dict[tuple[str, int], Import] = {}
    for imp in offending:
        seen.setdefault((imp.module, imp.line), imp)
    return "\n".join(str(imp) for imp in seen.values())


def test_the_scan_sees_every_form_of_import_and_resolves_relative_ones() -> None:
    # The rules are only as good as the scan: a lazy import in a function, an aliased import,
    # `from . import`, `from ..x import` must all be seen with their full dotted names.
    source = (
        "import central.store.schema as s\n"
        "from . import slots\n"
        "from ..uplink.mqtt import Uplink\n"
        "def later():\n"
        "    from central.sites import ingest\n"
    )
    found = {imp.target for imp in imports_of(ROOT / "edge" / "site" / "x.py", source)}
    assert {"central.store.schema", "edge.site.slots", "edge.uplink.mqtt.Uplink"} <= found
    assert "central.sites.ingest" in found
    in_package = imports_of(ROOT / "edge" / "site" / "__init__.py", "from .slots import Slot\n")
    assert "edge.site.slots" in {imp.target for imp in in_package}


def test_every_part_is_found() -> None:
    # An empty scan would pass every rule: make sure each part has its modules.
    for part in PRODUCT_PARTS:
        assert len(python_files(part)) >= 3, part
    assert python_files("hw_sim/devices") and python_files("hw_sim/people")


def test_edge_never_imports_central() -> None:
    offending = [imp for imp in imports_in("edge") if under(imp.target, "central")]
    assert offending == [], "edge must meet central only on the wire:\n" + listing(offending)


def test_central_never_imports_edge() -> None:
    offending = [imp for imp in imports_in("central") if under(imp.target, "edge")]
    assert offending == [], "central must meet edge only on the wire:\n" + listing(offending)


def test_protocols_imports_no_other_part() -> None:
    offending = [
        imp for imp in imports_in("protocols") if under(imp.target, "edge", "central", "hw_sim")
    ]
    assert offending == [], "protocols is the shared contract:\n" + listing(offending)


def test_hw_sim_devices_and_people_import_only_protocols_of_ours() -> None:
    allowed = ("protocols", "hw_sim.devices", "hw_sim.people", "hw_sim.errors")
    offending = [
        imp
        for folder in ("hw_sim/devices", "hw_sim/people")
        for path in python_files(folder)
        for imp in imports_of(path)
        if under(imp.target, *PRODUCT_PARTS)
        and not under(imp.target, *allowed)
        # `from hw_sim import errors` names the package itself first; the module is checked.
        and imp.target != "hw_sim"
    ]
    assert offending == [], "simulated devices and people know only the wire:\n" + listing(
        offending
    )


def test_no_product_file_is_over_the_line_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for part in PRODUCT_PARTS
        for path in python_files(part)
        if (lines := len(path.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert too_long == {}, f"files over {MAX_FILE_LINES} lines: {too_long}"


def test_no_class_is_over_the_line_limit() -> None:
    too_long = {}
    for part in PRODUCT_PARTS:
        for path in python_files(part):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_CLASS_LINES:
                        too_long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert too_long == {}, f"classes over {MAX_CLASS_LINES} lines: {too_long}"
