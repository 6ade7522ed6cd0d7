"""The HTTP API's OpenAPI document, generated from the app's routes and models.

    lockernet central openapi --out docs/api/openapi.json

The committed copy (docs/api/openapi.json) is checked against the code by
tests/web/test_openapi_drift.py, as the AsyncAPI document of the MQTT contract is.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from central.service.config import parse_config
from central.web.app import create_app
from central.web.context import WebContext
from protocols.clock import SystemClock
from protocols.tokens import TokenSigner


def openapi_document() -> dict[str, Any]:
    """The document, from an app built on placeholders (no store is opened to describe it)."""
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config(
            {"api": {"session_secret_file": str(Path(folder) / "session.key")}},
            "openapi",
            environ={},
        )
        ctx = WebContext(
            config=config,
            store=None,  # type: ignore[arg-type]  # never used: no route runs
            reader_location=str(Path(folder) / "none.sqlite"),
            signer=TokenSigner.generate(),
            clock=SystemClock(),
        )
        document: dict[str, Any] = create_app(ctx).openapi()
    return document


def openapi_text() -> str:
    """The document as committed: sorted keys, indent 2, a final newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def write_openapi(out: Path) -> None:
    """Write the document to `out` (its folder made if missing)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(openapi_text())
