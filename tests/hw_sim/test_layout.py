"""The simulator's own layout rules, as tests (the repository's are in tests/test_architecture.py):

- The network simulator (hw_sim/network) reads central only through central's read path
  (central/store/read.py) and a site only through its agent's and store's public API: it
  never imports sqlite3.
- hw_sim/field plays faults ON a store's files, as a dying card or a full disk would, and reads
  a store only through edge's Store; only the full disk opens SQLite itself (host_faults: the
  ballast of other files on the card).
- Neither reads another object's private attributes (`agent.store._db`): only `self._x`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_architecture import ROOT, imports_of, listing, python_files, under

# The one field fault that writes into a store's file itself: the full disk's ballast (a
# table the agent never reads, standing for other files on the card).
STORE_FILE_FAULTS = {"hw_sim.field.host_faults"}


def test_the_network_simulator_never_imports_sqlite3() -> None:
    offending = [
        imp
        for path in python_files("hw_sim/network")
        for imp in imports_of(path)
        if under(imp.target, "sqlite3")
    ]
    assert offending == [], "read central through StoreReader, a site through its Store:\n" + (
        listing(offending)
    )


def test_only_the_store_file_faults_open_sqlite_in_the_field() -> None:
    users = {
        imp.module
        for path in python_files("hw_sim/field")
        for imp in imports_of(path)
        if under(imp.target, "sqlite3")
    }
    assert users <= STORE_FILE_FAULTS, users - STORE_FILE_FAULTS


# Whose underscored names are fair: our own, and argparse's `_SubParsersAction` (the only
# way to name the type of `add_subparsers()`'s result, which every CLI's register takes).
OWN = ("self", "cls", "argparse")


def private_reads(path: Path, source: str | None = None) -> list[str]:
    """Every `x._name` in the file where x is not one of OWN (dunders aside)."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in OWN)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    return found


def test_the_scan_finds_a_private_read_through_a_chain() -> None:
    source = "def f(agent):\n    return agent.store._db.execute('x')\n"
    assert private_reads(ROOT / "hw_sim" / "network" / "x.py", source) == [
        "hw_sim/network/x.py:2 ._db"
    ]
    assert private_reads(ROOT / "hw_sim" / "network" / "x.py", "self._db = 1\n") == []


def test_the_simulator_reads_no_private_attribute_of_another_object() -> None:
    found = [
        hit
        for folder in ("hw_sim/network", "hw_sim/field")
        for path in python_files(folder)
        for hit in private_reads(path)
    ]
    assert found == [], "use or add a public method:\n" + "\n".join(found)
