"""The committed OpenAPI document (docs/api/openapi.json) is generated from the app's routes
and models and never drifts from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from central.web.openapi import openapi_text
from protocols.cli import main

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"
REGENERATE = "run `lockernet central openapi --out docs/api/openapi.json` and commit the result"


def test_the_committed_document_matches_the_app() -> None:
    assert COMMITTED.exists(), f"docs/api/openapi.json is missing: {REGENERATE}"
    assert COMMITTED.read_text() == openapi_text(), f"docs/api/openapi.json differs: {REGENERATE}"


def test_the_command_writes_the_committed_document(tmp_path: Path) -> None:
    out = tmp_path / "api" / "openapi.json"
    assert main(["central", "openapi", "--out", str(out)]) == 0
    assert out.read_text() == COMMITTED.read_text()


def test_every_operator_route_says_what_it_answers_and_who_may_call_it() -> None:
    document: dict[str, Any] = json.loads(COMMITTED.read_text())
    paths = document["paths"]
    for path in (
        "/api/login",
        "/api/sites",
        "/api/sites/{site}/slots",
        "/api/sites/{site}/slots/{slot}/open",
        "/api/alarms/{alarm_id}/ack",
        "/api/parcels/{label}",
        "/api/audit",
        "/api/track/{label}",
        "/api/badges",
    ):
        assert path in paths, path
        for method, operation in paths[path].items():
            answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert answer, (method, path)
    opened = paths["/api/sites/{site}/slots/{slot}/open"]["post"]
    assert opened["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "OpenBody"
    )
