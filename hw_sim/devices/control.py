"""The control channel: a person or a script plays the people and the faults of a running
simulator, one command per line, one JSON answer per line (docs/hwsim.md).

A command is either text (`place 0 3 RR123456785CN`) or a JSON object
(`{"cmd": "place", "board": 0, "slot": 3, "parcel": "RR123456785CN"}`). Every answer is one
JSON object with "ok"; a refused command answers {"ok": false, "error": ...} and changes
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hw_sim.devices.faults import FaultKind, play, random_plan
from hw_sim.devices.site import QR_SYMBOLOGY, SimulatedSite
from hw_sim.errors import ControlError, HwSimError

MAX_COMMAND_BYTES = 64 * 1024  # far above any code or parcel id; longer lines are refused

# Text form: the positional arguments of each verb, in order ("?" marks optional ones).
_POSITIONAL: dict[str, tuple[str, ...]] = {
    "help": (),
    "status": (),
    "faults": (),
    "stats": (),
    "place": ("board", "slot", "parcel"),
    "remove": ("board", "slot", "parcel?"),
    "open": ("board", "slot"),
    "close": ("board", "slot"),
    "force": ("board", "slot"),
    "scan": ("code", "symbology?"),
    "fault": ("state", "kind"),
    "plan": ("seed",),
}
_INTEGER_FIELDS = frozenset(("board", "slot"))

HELP = {
    "status": "the whole site: boards, slots (locked, door_open, occupied, contents), faults",
    "place BOARD SLOT PARCEL": "put a parcel into an open compartment",
    "remove BOARD SLOT [PARCEL]": "take one parcel, or everything, out of an open compartment",
    "open BOARD SLOT": "pull a released door open (a latched one stays shut)",
    "close BOARD SLOT": "push a door shut",
    "force BOARD SLOT": "pry a door open without an unlock",
    "scan CODE [AIM-ID]": "hold a code up to the scanner (AIM id default ]Q1)",
    "fault on|off KIND [board=B] [slot=S] [value=V]": "switch a fault; see `faults`",
    "faults": "the faults now on, and every kind there is",
    "plan SEED|stop [duration=S] [gap=S] [length=S] [kinds=K1,K2]": (
        "play a seeded random fault plan from now (replaces a running one)"
    ),
    "stats": "bytes that crossed each port, and what was dropped",
}


def parse_command(line: str) -> dict[str, Any]:
    """Turn one line into a command dict; ControlError says what is wrong with it."""
    line = line.strip()
    if not line:
        raise ControlError("empty command; try `help`")
    if line.startswith("{"):
        try:
            decoded = json.loads(line)
        except json.JSONDecodeError as error:
            raise ControlError(f"not valid JSON: {error}") from None
        if not isinstance(decoded, dict) or not isinstance(decoded.get("cmd"), str):
            raise ControlError('a JSON command is an object with a "cmd" string')
        return {str(key): value for key, value in decoded.items()}
    verb, *words = line.split()
    names = _POSITIONAL.get(verb)
    if names is None:
        raise ControlError(f"unknown command {verb!r}; try `help`")
    command: dict[str, Any] = {"cmd": verb}
    positional = [w for w in words if "=" not in w or verb == "scan"]
    keywords = [w for w in words if "=" in w and verb != "scan"]
    required = [n for n in names if not n.endswith("?")]
    if not len(required) <= len(positional) <= len(names):
        raise ControlError(f"usage: {verb} {' '.join(n.upper() for n in names)}")
    for name, word in zip(names, positional, strict=False):
        command[name.rstrip("?")] = word
    for word in keywords:
        key, _, value = word.partition("=")
        command[key] = value
    return command


def _integer(command: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = command.get(name)
    if value is None:
        if required:
            raise ControlError(f"{command['cmd']} needs {name}")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be a whole number, not {value!r}") from None


def _text(command: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = command.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(f"{command['cmd']} needs {name} as text")
    return value


class Controller:
    """Carries out commands on one site."""

    def __init__(self, site: SimulatedSite) -> None:
        self.site = site
        self._verbs: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "help": lambda _c: {"commands": HELP},
            "status": lambda _c: {"status": self.site.status()},
            "faults": self._faults,
            "stats": self._stats,
            "place": self._place,
            "remove": self._remove,
            "open": self._open,
            "close": self._close,
            "force": self._force,
            "scan": self._scan,
            "fault": self._fault,
            "plan": self._plan,
        }
        self._plan_task: asyncio.Task[None] | None = None

    def handle_line(self, line: str) -> dict[str, Any]:
        """One command line in, one answer out; never raises for bad input."""
        try:
            command = parse_command(line)
            verb = self._verbs.get(command["cmd"])
            if verb is None:
                raise ControlError(f"unknown command {command['cmd']!r}; try `help`")
            return {"ok": True, **verb(command)}
        except HwSimError as error:
            return {"ok": False, "error": str(error)}

    def _where(self, command: dict[str, Any]) -> tuple[int, int]:
        board, slot = _integer(command, "board"), _integer(command, "slot")
        assert board is not None and slot is not None
        self.site.compartment(board, slot)  # raises ConfigError for a slot that is not there
        return board, slot

    def _place(self, command: dict[str, Any]) -> dict[str, Any]:
        board, slot = self._where(command)
        parcel = _text(command, "parcel")
        assert parcel is not None
        self.site.compartment(board, slot).place(parcel)
        return {"placed": parcel}

    def _remove(self, command: dict[str, Any]) -> dict[str, Any]:
        board, slot = self._where(command)
        return {"taken": self.site.compartment(board, slot).take(_text(command, "parcel", False))}

    def _open(self, command: dict[str, Any]) -> dict[str, Any]:
        board, slot = self._where(command)
        self.site.compartment(board, slot).open_door()
        return {"door_open": True}

    def _close(self, command: dict[str, Any]) -> dict[str, Any]:
        board, slot = self._where(command)
        shut = self.site.compartment(board, slot).close_door()
        return {"door_open": not shut}

    def _force(self, command: dict[str, Any]) -> dict[str, Any]:
        board, slot = self._where(command)
        self.site.set_fault(FaultKind.DOOR_FORCED, True, board, slot)
        return {"door_open": True}

    def _scan(self, command: dict[str, Any]) -> dict[str, Any]:
        code = _text(command, "code")
        assert code is not None
        symbology = _text(command, "symbology", False) or QR_SYMBOLOGY
        self.site.scan(code, symbology)
        return {"scanned": code}

    def _fault(self, command: dict[str, Any]) -> dict[str, Any]:
        state = command.get("state", command.get("on"))
        if state in ("on", True):
            on = True
        elif state in ("off", False):
            on = False
        else:
            raise ControlError("fault needs on or off")
        try:
            kind = FaultKind(str(command.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ControlError(f"unknown fault {command.get('kind')!r}; kinds: {kinds}") from None
        value = command.get("value")
        try:
            number = None if value is None else float(value)
        except (TypeError, ValueError):
            raise ControlError(f"value must be a number, not {value!r}") from None
        self.site.set_fault(
            kind, on, _integer(command, "board", False), _integer(command, "slot", False), number
        )
        return {"faults": self.site.faults()}

    def _plan(self, command: dict[str, Any]) -> dict[str, Any]:
        if str(command.get("seed")) == "stop":
            stopped = self._stop_plan()
            return {"stopped": stopped}
        seed = _integer(command, "seed")
        assert seed is not None
        numbers = {}
        for name, default in (("duration", 3600.0), ("gap", 600.0), ("length", 60.0)):
            try:
                numbers[name] = float(command.get(name, default))
            except (TypeError, ValueError):
                raise ControlError(f"{name} must be a number of seconds") from None
        kinds = list(FaultKind)
        if command.get("kinds") is not None:
            names = command["kinds"]
            names = names.split(",") if isinstance(names, str) else names
            try:
                kinds = [FaultKind(str(name)) for name in names]
            except ValueError:
                raise ControlError(f"unknown fault in kinds={command['kinds']!r}") from None
        board = self.site.board(self.site.board_ids[0])
        plan = random_plan(
            seed,
            numbers["duration"],
            self.site.board_ids,
            len(board.compartments),
            kinds=kinds,
            mean_gap_s=numbers["gap"],
            mean_length_s=numbers["length"],
        )
        self._stop_plan()
        loop = asyncio.get_running_loop()
        self._plan_task = loop.create_task(play(plan, self.site, self.site.clock))
        return {"events": [asdict(event) for event in plan]}

    def _stop_plan(self) -> bool:
        task, self._plan_task = self._plan_task, None
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def _faults(self, _command: dict[str, Any]) -> dict[str, Any]:
        return {"faults": self.site.faults(), "kinds": [k.value for k in FaultKind]}

    def _stats(self, _command: dict[str, Any]) -> dict[str, Any]:
        ports = self.site.ports
        if ports is None:
            return {"ports": {}}
        locks, scanner = asdict(ports.locks.stats), asdict(ports.scanner.stats)
        return {"ports": {"locks": locks, "scanner": scanner}}


async def serve_control(site: SimulatedSite, path: Path) -> asyncio.Server:
    """Listen on a Unix socket at `path` (e.g. `socat - UNIX-CONNECT:path`)."""
    controller = Controller(site)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readline()
                except ValueError:  # longer than the limit: refuse, and drop the connection
                    answer = {"ok": False, "error": f"command over {MAX_COMMAND_BYTES} bytes"}
                    writer.write(json.dumps(answer).encode() + b"\n")
                    break
                if not raw:
                    break
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    answer = {"ok": False, "error": "a command is UTF-8 text"}
                else:
                    answer = controller.handle_line(line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()
    return await asyncio.start_unix_server(session, path=str(path), limit=MAX_COMMAND_BYTES)
