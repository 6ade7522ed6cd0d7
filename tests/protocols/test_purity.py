"""`protocols` is the wire contract, shared by a Pi and central: it must do no I/O.

Importing it must not pull in the MQTT client, the serial driver or the database, and no
module of ours may reach for sockets, TLS, processes, SQLite, serial ports or paho itself.
(pydantic's own stdlib imports may load `socket` indirectly; that is not our code, so the
runtime check names the heavy I/O libraries and the source check covers ours.)
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import protocols

PACKAGE_DIR = Path(protocols.__file__).parent
EXEMPT = {"cli.py"}  # the command-line entry point may do I/O: it writes the contract files
FORBIDDEN_LOADED = ("paho", "serial", "sqlite3", "_sqlite3")
FORBIDDEN_IMPORTS = (
    "socket",
    "ssl",
    "asyncio.subprocess",
    "subprocess",
    "sqlite3",
    "serial",
    "paho",
)


def our_modules() -> list[Path]:
    """Every module of the package, sub-packages (protocols/boards) included."""
    return sorted(
        p for p in PACKAGE_DIR.rglob("*.py") if str(p.relative_to(PACKAGE_DIR)) not in EXEMPT
    )


def module_name(path: Path) -> str:
    """protocols/boards/cu16.py -> boards.cu16; protocols/boards/__init__.py -> boards.__init__"""
    return ".".join(path.relative_to(PACKAGE_DIR).with_suffix("").parts)


def test_the_package_has_the_modules_the_contract_names() -> None:
    names = {module_name(p) for p in our_modules()}
    assert {
        "boards.cu16",
        "boards.rs485",
        "reassembly",
        "scanner",
        "labels",
        "tokens",
        "commands",
    } <= names
    assert {"messages", "topics", "clock", "contract", "errors", "__init__"} <= names


def test_importing_every_module_loads_no_mqtt_serial_or_database_library() -> None:
    modules = ["protocols"] + [
        f"protocols.{module_name(p).removesuffix('.__init__')}"
        for p in our_modules()
        if p.stem != "__init__" or p.parent != PACKAGE_DIR
    ]
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
    assert "protocols.boards.cu16" in loaded and "protocols.messages" in loaded
    offending = [
        name
        for name in loaded
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_LOADED)
    ]
    assert offending == [], f"importing protocols loaded {offending}"


def imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from asyncio import subprocess` imports the module asyncio.subprocess
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_ours_imports_io_libraries() -> None:
    offending = {}
    for path in our_modules():
        names = imported_names(ast.parse(path.read_text(), filename=str(path)))
        bad = sorted(
            name
            for name in names
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IMPORTS)
        )
        if bad:
            offending[module_name(path)] = bad
    assert offending == {}, f"I/O imports in protocols: {offending}"


def test_the_source_scan_sees_imports_in_every_form() -> None:
    tree = ast.parse(
        "import socket\nimport paho.mqtt.client as mqtt\nfrom asyncio import subprocess\n"
        "from serial import Serial\ndef f():\n    import sqlite3\n"
    )
    names = imported_names(tree)
    for forbidden in ("socket", "paho.mqtt.client", "asyncio.subprocess", "serial", "sqlite3"):
        assert forbidden in names
