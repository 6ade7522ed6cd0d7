"""Request bodies beyond what any call needs are refused with 413 before they are read
whole: an anonymous client could otherwise make the process hold a body of any size."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi.testclient import TestClient

from central.web.auth import Role
from central.web.body_limit import BODY_MAX_BYTES
from tests.web.conftest import LOGINS

Client = Callable[[Role | None], TestClient]


def test_a_body_too_large_is_refused_and_the_next_call_is_served(client: Client) -> None:
    anonymous = client(None)
    huge = b'{"name": "vera", "password": "' + b"x" * BODY_MAX_BYTES + b'"}'
    declared = anonymous.post(
        "/api/login", content=huge, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert f"at most {BODY_MAX_BYTES} bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it comes
        yield b'{"name": "vera", "password": "'
        for _ in range(BODY_MAX_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    streamed = anonymous.post(
        "/api/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    form = anonymous.post("/console/login", data={"name": "x" * (BODY_MAX_BYTES + 1)})
    assert form.status_code == 413
    assert anonymous.get("/api/me").status_code == 401  # nobody was signed in by any of it
    name, password = LOGINS[Role.VIEWER]
    assert (
        anonymous.post("/api/login", json={"name": name, "password": password}).status_code == 200
    )
