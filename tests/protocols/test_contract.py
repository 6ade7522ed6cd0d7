"""The published contract (docs/contract) is generated from the models and never drifts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols import messages as m
from protocols.cli import main, write_contract

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "contract"
REGENERATE = "run `lockernet protocol schema --out docs/contract` and commit the result"


def files_under(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*.json"))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contract")
    written = write_contract(out)
    assert written, "write_contract wrote nothing"
    return out


def test_the_committed_contract_matches_the_models(generated: Path) -> None:
    fresh, committed = files_under(generated), files_under(COMMITTED)
    missing = sorted(set(fresh) - set(committed))
    stale = sorted(set(committed) - set(fresh))
    assert not missing, f"docs/contract lacks {missing}: {REGENERATE}"
    assert not stale, f"docs/contract has files no model makes any more, {stale}: {REGENERATE}"
    drifted = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not drifted, f"docs/contract/{drifted} differ from the models: {REGENERATE}"


def test_the_command_writes_the_same_contract(tmp_path: Path, generated: Path) -> None:
    assert main(["protocol", "schema", "--out", str(tmp_path)]) == 0
    assert files_under(tmp_path) == files_under(generated)


def test_there_is_a_schema_for_every_message_event_and_command(generated: Path) -> None:
    names = {p.stem for p in (generated / "schemas").glob("*.json")}
    assert set(m.MESSAGES) <= names
    assert "event.parcel_deposited" in names and "command.open_slot" in names
    assert len([n for n in names if n.startswith("event.")]) >= 17


def refs(node: Any) -> Iterator[str]:
    """Every reference in a document: "$ref" values and discriminator mappings."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "mapping" and isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: Any, ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node = document
    for escaped in ref[2:].split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_every_schema_is_self_contained(generated: Path) -> None:
    for path in sorted((generated / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/{path.name}")
        for ref in refs(schema):
            resolve(schema, ref)


def test_the_asyncapi_document_is_structurally_asyncapi_3(generated: Path) -> None:
    doc = json.loads((generated / "asyncapi.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    for ref in refs(doc):
        resolve(doc, ref)
    channels, operations = doc["channels"], doc["operations"]
    assert channels and operations
    for key, channel in channels.items():
        assert channel["address"].startswith("lockernet/v1/"), key
        placeholders = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert placeholders == set(channel.get("parameters", {})), key
        for message in channel["messages"].values():
            assert "payload" in resolve(doc, message["$ref"])
    for key, operation in operations.items():
        assert operation["action"] in {"send", "receive"}, key
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/") and resolve(doc, channel_ref), key
        for message in operation["messages"]:
            # AsyncAPI 3: an operation's messages are messages of its own channel.
            assert message["$ref"].startswith(channel_ref + "/messages/"), key
        if "reply" in operation:
            resolve(doc, operation["reply"]["channel"]["$ref"])
    addresses = {c["address"] for c in channels.values()}
    assert "lockernet/v1/sites/{siteId}/events" in addresses
    assert "lockernet/v1/central/status" in addresses
