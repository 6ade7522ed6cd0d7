"""The site's decisions are pure: edge/site/ does no I/O and reaches for no part that does.

Every module in edge/site/ takes an input (a scan, a reading, a command, a tick, with the
time) and the site's state, and returns actions. The shell (edge/agent/) owns the I/O: the
store, the serial bus, the uplink. So no module here may import asyncio, sqlite3, serial or
paho, nor the edge parts built on them (edge.store, edge.uplink, edge.drivers, edge.host,
edge.agent), and importing them all must not load an MQTT, serial or database library.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import edge.site
from tests.protocols.test_purity import imported_names

SITE_DIR = Path(edge.site.__file__).parent
FORBIDDEN_IMPORTS = (
    "asyncio",
    "socket",
    "ssl",
    "subprocess",
    "sqlite3",
    "serial",
    "paho",
    "edge.store",
    "edge.uplink",
    "edge.drivers",
    "edge.host",
    "edge.agent",
    "edge.config",  # it reads files and pulls in the uplink's settings
)
FORBIDDEN_LOADED = ("paho", "serial", "sqlite3", "_sqlite3", "edge.store", "edge.uplink")


def site_modules() -> list[Path]:
    return sorted(SITE_DIR.glob("*.py"))


def test_the_decisions_are_all_here() -> None:
    names = {p.stem for p in site_modules()}
    decisions = {"scans", "counter", "commands", "technician", "readings", "doors"}
    assert decisions | {"reconcile", "timers", "state", "actions", "slots", "lockout"} <= names


def test_no_site_module_imports_io_or_an_io_part() -> None:
    offending = {}
    for path in site_modules():
        names = imported_names(ast.parse(path.read_text(), filename=str(path)))
        bad = sorted(
            name
            for name in names
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IMPORTS)
        )
        if bad:
            offending[path.name] = bad
    assert offending == {}, f"I/O imports in edge/site: {offending}"


def test_importing_every_site_module_loads_no_io_library() -> None:
    modules = [f"edge.site.{p.stem}" for p in site_modules() if p.stem != "__init__"]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(result.stdout)
    assert "edge.site.scans" in loaded and "edge.site.readings" in loaded
    offending = [
        name
        for name in loaded
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_LOADED)
    ]
    assert offending == [], f"importing edge.site loaded {offending}"


def test_the_check_sees_a_forbidden_import_in_a_site_module(tmp_path: Path) -> None:
    source = "from edge.store.sqlite import Store\nimport asyncio\n"
    names = imported_names(ast.parse(source))
    assert {"edge.store.sqlite", "asyncio"} <= names
    assert all(any(n.startswith(f) for f in FORBIDDEN_IMPORTS) for n in names - {"edge"})
