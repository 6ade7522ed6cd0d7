"""MQTT message models: compact JSON, tolerant of new fields, strict about the version."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import MessageError, ProtocolError, UnsupportedSchemaVersion
from protocols import messages as m

from . import strategies as s

DEPOSIT = m.Event(
    site="L0001",
    seq=42,
    id="L0001-42",
    at=1_767_225_600.5,
    payload=m.ParcelDeposited(
        parcel="RR123456785CN", slot="A07", courier="C042", size=m.SizeClass.M, reserved=True
    ),
)
DEPOSIT_WIRE = (
    b'{"v":1,"site":"L0001","seq":42,"id":"L0001-42","at":1767225600.5,"payload":'
    b'{"type":"parcel_deposited","parcel":"RR123456785CN","slot":"A07","courier":"C042",'
    b'"size":"M","reserved":true}}'
)


def whitespace_outside_strings(text: str) -> bool:
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char.isspace():
            return True
    return False


def test_an_event_is_compact_json_without_null_fields() -> None:
    assert m.encode(DEPOSIT) == DEPOSIT_WIRE
    assert m.decode(m.Event, DEPOSIT_WIRE) == DEPOSIT
    assert m.decode(m.Event, DEPOSIT_WIRE.decode()) == DEPOSIT  # str payloads too
    status = m.SiteStatus(site="L0001", online=True, boot_id="b1", at=1.0)
    assert m.encode(status) == b'{"v":1,"site":"L0001","online":true,"boot_id":"b1","at":1.0}'


def test_unknown_fields_are_tolerated_at_every_level() -> None:
    data = json.loads(DEPOSIT_WIRE)
    data["priority"] = "high"
    data["payload"]["temperature"] = {"celsius": 31}
    assert m.decode(m.Event, json.dumps(data)) == DEPOSIT
    assert b"priority" not in m.encode(m.decode(m.Event, json.dumps(data)))


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, True, None, [], {"major": 1}])
def test_an_unknown_schema_version_is_refused_saying_so(version: Any) -> None:
    data = json.loads(DEPOSIT_WIRE)
    data["v"] = version
    with pytest.raises(UnsupportedSchemaVersion) as caught:
        m.decode(m.Event, json.dumps(data))
    assert caught.value.version == version
    assert f"unsupported schema version {version!r}" in str(caught.value)
    assert "speaks version 1" in str(caught.value)


def test_a_message_without_a_version_is_refused_saying_so() -> None:
    data = json.loads(DEPOSIT_WIRE)
    del data["v"]
    with pytest.raises(MessageError, match="no schema version 'v'"):
        m.decode(m.Event, json.dumps(data))


def test_the_version_is_checked_before_anything_else() -> None:
    # A v2 message may look nothing like v1: the error must be about the version.
    with pytest.raises(UnsupportedSchemaVersion):
        m.decode(m.Event, b'{"v":2,"what":"a whole new shape"}')


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"{", "not JSON"),
        (b"[1,2]", "must be a JSON object"),
        (b'"v"', "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b" " * (m.MAX_PAYLOAD_BYTES + 1), "too large"),
        (DEPOSIT_WIRE.replace(b"1767225600.5", b"Infinity"), "Infinity is not a JSON value"),
        (DEPOSIT_WIRE.replace(b"1767225600.5", b"NaN"), "NaN is not a JSON value"),
        (DEPOSIT_WIRE.replace(b"RR123456785CN", b"RR123456784CN"), "payload.parcel_deposited"),
        (DEPOSIT_WIRE.replace(b'"seq":42', b'"seq":0'), "seq"),
        (DEPOSIT_WIRE.replace(b"parcel_deposited", b"parcel_teleported"), "payload"),
        (DEPOSIT_WIRE.replace(b'"site":"L0001"', b'"site":"L0001/#"'), "site"),
        (DEPOSIT_WIRE.replace(b'"site":"L0001"', b'"site":"L0001\\n"'), "site"),
    ],
)
def test_bad_payloads_raise_message_error_saying_what_is_wrong(payload: bytes, words: str) -> None:
    with pytest.raises(MessageError) as caught:
        m.decode(m.Event, payload)
    assert words in str(caught.value)


def test_a_message_built_in_code_refuses_a_time_json_cannot_carry() -> None:
    with pytest.raises(ValueError, match="finite"):
        m.SiteStatus(site="L0001", online=True, boot_id="b1", at=float("inf"))


def test_the_event_type_names_its_payload() -> None:
    assert DEPOSIT.type == "parcel_deposited"


# ------------------------------------------------------------------------------ round trips

NAMES = sorted(m.MESSAGES)


def test_every_message_model_has_a_strategy() -> None:
    assert set(s.messages) == set(m.MESSAGES)


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_message_round_trips_as_compact_json(name: str, data: st.DataObject) -> None:
    model = m.MESSAGES[name]
    message = data.draw(s.messages[name])
    raw = m.encode(message)
    assert m.decode(model, raw) == message
    assert not whitespace_outside_strings(raw.decode())
    if name != "reply":  # a reply's free-form result may hold nulls of its own
        assert b":null" not in raw.replace(b'":null"', b"")


@settings(deadline=None, max_examples=300)
@given(s.event_payloads)
def test_every_event_payload_type_round_trips_in_an_event(payload: Any) -> None:
    event = m.Event(site="L0001", seq=1, id="e1", at=0, payload=payload)
    decoded = m.decode(m.Event, m.encode(event))
    assert decoded == event
    assert type(decoded.payload) is type(payload)


@settings(deadline=None, max_examples=300)
@given(s.commands)
def test_every_command_body_type_round_trips_in_a_command(command: m.Command) -> None:
    decoded = m.decode(m.Command, m.encode(command))
    assert decoded == command
    assert type(decoded.body) is type(command.body)


# ------------------------------------------------------- parsers: a message or MessageError


def decode_or_error(model: type[m.WireModel], payload: bytes | str) -> None:
    try:
        message = m.decode(model, payload)
    except ProtocolError as exc:
        assert isinstance(exc, MessageError)
        assert str(exc)
    else:
        assert isinstance(message, model)
        assert m.decode(model, m.encode(message)) == message


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=1000)
@given(payload=st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_give_a_message_or_message_error(name: str, payload: bytes | str) -> None:
    decode_or_error(m.MESSAGES[name], payload)


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=300)
@given(value=s.json_values, version=st.sampled_from([1, 1, 1, 2, "1", None]))
def test_arbitrary_json_gives_a_message_or_message_error(
    name: str, value: Any, version: Any
) -> None:
    payload = {"v": version, "x": value} if version is not None else value
    decode_or_error(m.MESSAGES[name], json.dumps(payload))


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_messages_with_one_field_damaged_give_a_message_or_message_error(
    name: str, data: st.DataObject
) -> None:
    model = m.MESSAGES[name]
    wire = json.loads(m.encode(data.draw(s.messages[name])))
    target = wire
    # Walk into a nested object now and then, so payloads and bodies get damaged too.
    while True:
        nested = [k for k, v in target.items() if isinstance(v, dict) and v]
        if not nested or not data.draw(st.booleans()):
            break
        target = target[data.draw(st.sampled_from(nested))]
    key = data.draw(st.sampled_from(sorted(target)) | st.text(max_size=5))
    if key == "v" and target is wire:
        key = "x"  # the version has its own tests
    if data.draw(st.booleans()):
        target[key] = data.draw(s.json_values)
    else:
        target.pop(key, None)
    decode_or_error(model, json.dumps(wire))
