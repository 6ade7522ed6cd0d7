"""The technician's local control socket: one JSON request per line, one JSON answer per line.

The running agent owns the serial ports, so `lockernet edge diag` and the slot and
maintenance commands ask it through a Unix socket in the state folder, readable by the
agent's user only. Requests: {"op": "diag"}, {"op": "slot", "slot": "A01", "in_service":
false, "by": "tech-1", "reason": "..."}, {"op": "maintenance", "minutes": 30}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.host import ownership
from edge.store.sqlite import StoreUnavailable

if TYPE_CHECKING:
    from edge.agent import SiteAgent

MAX_REQUEST_BYTES = 4096


def socket_path(state_dir: Path, site: str) -> Path:
    return Path(state_dir) / f"{site}.control.sock"


async def serve(agent: SiteAgent, path: Path) -> asyncio.AbstractServer:
    """Listen on `path`. A stale socket (its agent gone) is replaced; a live one belongs to
    another agent of this site and is left alone: SiteOwned is raised instead."""
    if ownership.socket_is_live(path):
        lock = ownership.lock_path(path.parent, agent.site)
        raise ownership.SiteOwned(agent.site, lock, None, f"; {path} is answering")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            answer = await _answer(agent, line[:MAX_REQUEST_BYTES])
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    old_umask = os.umask(0o077)  # the socket is the technician's, not the world's
    try:
        return await asyncio.start_unix_server(handle, path=str(path))
    finally:
        os.umask(old_umask)


async def _answer(agent: SiteAgent, line: bytes) -> dict[str, Any]:
    from edge.agent import CommandRefused

    try:
        request = json.loads(line)
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
        op = request.get("op")
        if op == "diag":
            # The report central's RunDiagnostics gets: the agent hands its parts to
            # edge/host/diagnostics.py (one place says which parts those are).
            diagnose = agent.commands.diagnostics
            if diagnose is None:
                return {"ok": False, "error": "this agent makes no diagnostic report"}
            return {"ok": True, "report": await diagnose()}
        if op == "slot":
            agent.set_service(
                str(request["slot"]),
                bool(request["in_service"]),
                str(request.get("by") or "technician"),
                str(request.get("reason") or "technician"),
            )
            return {"ok": True}
        if op == "maintenance":
            minutes = float(request.get("minutes", 30))
            agent.open_maintenance(minutes * 60)
            return {"ok": True, "minutes": minutes}
        return {"ok": False, "error": f"unknown op {op!r}; use diag, slot or maintenance"}
    except CommandRefused as exc:
        return {"ok": False, "error": f"{exc.reason.value}: {exc.detail}"}
    except StoreUnavailable as exc:  # a full or failing card: nothing was changed
        return {"ok": False, "error": str(exc)}
    except (ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "error": f"bad request: {exc}"}


async def ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()
