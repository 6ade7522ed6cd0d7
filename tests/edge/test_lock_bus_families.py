"""One lock bus, one family: another family's keys are refused by name, each family's board
ids are checked, and every family is registered once in each part (codec, driver dialect,
simulated device) with no family branch left outside its own modules."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.config import LockBusConfig
from edge.drivers.boards import DIALECTS
from hw_sim.devices.families import DEVICES
from protocols.boards import FAMILIES, BoardFamily

ROOT = Path(__file__).resolve().parents[2]
RS485_BOARD = {"address": 1, "channels": 8}


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"family": "cu48", "boards": [0], "unlock_reply": True}, "lock_bus.unlock_reply"),
        ({"family": "cu48", "boards": [0], "polarity": "zero_is_locked"}, "lock_bus.polarity"),
        ({"family": "cu48", "boards": [0], "rs485_boards": [RS485_BOARD]}, "rs485_boards"),
        ({"family": "cu16", "boards": [0], "rs485_boards": [RS485_BOARD]}, "rs485_boards"),
        ({"family": "rs485-8a", "boards": [0, 1], "rs485_boards": [RS485_BOARD]}, "boards"),
        ({"family": "rs485-8a", "unlock_reply": True, "rs485_boards": [RS485_BOARD]}, "unlock"),
    ],
)
def test_a_second_family_s_keys_on_one_bus_are_refused_by_name(
    keys: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        LockBusConfig(port="mem", **keys)


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        ({"family": "cu48", "boards": [10]}, "CU48 board ids are 0-9"),
        ({"family": "cu48", "boards": [1, 1]}, "each Kerong CU48 board id once"),
        ({"family": "cu16", "boards": [16]}, "CU16 board ids are 0-15"),
        ({"family": "cu16", "boards": []}, "each Kerong CU16 board id once"),
        ({"family": "rs485-8a"}, "needs rs485_boards"),
    ],
)
def test_boards_a_family_cannot_have_are_refused(keys: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        LockBusConfig(port="mem", **keys)


def test_each_family_s_own_keys_and_the_defaults_pass() -> None:
    assert LockBusConfig(port="mem", family="cu48", boards=[0, 9]).board_layout() == {0: 48, 9: 48}
    cu16 = LockBusConfig(port="mem", boards=[3], polarity="zero_is_locked", unlock_reply=True)
    assert cu16.board_layout() == {3: 16}
    # The default `boards = [0]` on an rs485-8a bus is not a CU board of its own.
    rs485 = LockBusConfig(port="mem", family="rs485-8a", boards=[0], rs485_boards=[RS485_BOARD])
    assert rs485.board_layout() == {1: 8}


def test_every_family_is_registered_once_in_each_part() -> None:
    assert set(FAMILIES) == set(DIALECTS) == set(DEVICES) == set(BoardFamily)
    for family in BoardFamily:
        assert FAMILIES[family] is DIALECTS[family].facts is DEVICES[family].facts


# The family-neutral modules: they look a family up, and never ask which one it is.
GENERIC = [
    "edge/config.py",
    "edge/drivers/lockboard.py",
    "edge/drivers/boards/base.py",
    "edge/drivers/boards/__init__.py",
    "hw_sim/devices/site.py",
    "hw_sim/devices/cli.py",
    "hw_sim/devices/lock_bus.py",
    "hw_sim/devices/families.py",
    "protocols/boards/__init__.py",
    "protocols/boards/family.py",
]
FAMILY_NAMES = {family.name for family in BoardFamily} | {family.value for family in BoardFamily}


def _family_tests(source: str) -> list[str]:
    """Comparisons and match cases that name a family: `x is BoardFamily.CU16`, `== "cu48"`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        operands: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            operands = [node.value]
        for operand in operands:
            name = operand.attr if isinstance(operand, ast.Attribute) else None
            if isinstance(operand, ast.Constant) and isinstance(operand.value, str):
                name = operand.value
            if name in FAMILY_NAMES:
                found.append(ast.unparse(node))
    return found


def test_the_family_test_sees_a_branch() -> None:
    source = 'if bus.family is BoardFamily.CU48:\n    pass\nif name == "rs485-8a":\n    pass\n'
    assert len(_family_tests(source)) == 2


@pytest.mark.parametrize("path", GENERIC)
def test_no_family_branch_in_the_generic_modules(path: str) -> None:
    assert _family_tests((ROOT / path).read_text()) == []
