"""The published MQTT contract: a JSON Schema per message and an AsyncAPI 3 document.

Generated from the message models, so the documents can never say something the code does
not do; `docs/contract/` holds the committed copy and a test fails when it drifts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from protocols.messages import (
    MESSAGES,
    SCHEMA_VERSION,
    CommandBody,
    EventPayload,
    WireModel,
)
from protocols.topics import DEFAULT_ROOT

ASYNCAPI_VERSION = "3.0.0"
MQTT_BINDING_VERSION = "0.2.0"


def _union_members(annotated: Any) -> list[type[BaseModel]]:
    union = annotated.__origin__  # Annotated[Union[...], Field(...)]
    return list(union.__args__)


def _type_name(model: type[BaseModel]) -> str:
    field = model.model_fields["type"]
    value: str = field.default
    return value


def json_schemas() -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema per message type, keyed by file stem.

    Top-level messages, and each event payload and command body on its own as well, so a
    partner integrating one event type reads one small file.
    """
    schemas: dict[str, dict[str, Any]] = {}
    for name, model in MESSAGES.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"lockernet/v{SCHEMA_VERSION}/{name}.json"
        schemas[name] = schema
    for prefix, union in (("event", EventPayload), ("command", CommandBody)):
        for member in _union_members(union):
            stem = f"{prefix}.{_type_name(member)}"
            schema = member.model_json_schema()
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["$id"] = f"lockernet/v{SCHEMA_VERSION}/{stem}.json"
            schemas[stem] = schema
    return schemas


# channel key -> (address under the root, message key, description)
_CHANNELS: dict[str, tuple[str, str, str]] = {
    "centralStatus": (
        "central/status",
        "central-status",
        "Retained. Central's status; its last will sets online=false.",
    ),
    "siteStatus": (
        "sites/{siteId}/status",
        "site-status",
        "Retained. The site's status; its last will sets online=false.",
    ),
    "siteState": (
        "sites/{siteId}/state",
        "state-snapshot",
        "Retained. The site's full state, published on every (re)connect and on request.",
    ),
    "siteEvents": (
        "sites/{siteId}/events",
        "event",
        "QoS 1. The site's events, each with its per-site sequence number. Central reads "
        "them through the shared subscription $share/central/lockernet/v1/sites/+/events.",
    ),
    "siteCommands": (
        "sites/{siteId}/commands",
        "signed-command",
        "QoS 1, with a message expiry. Commands from central, signed with central's key.",
    ),
    "siteReplies": (
        "sites/{siteId}/replies",
        "reply",
        "QoS 1. The site's replies to commands, correlated by command id.",
    ),
    "siteHeartbeat": (
        "sites/{siteId}/heartbeat",
        "heartbeat",
        "QoS 0, never retained. The site's liveness every few seconds, with its newest "
        "event sequence number and its clock; central does not rely on retained status.",
    ),
}

# operation key -> (action seen from a site agent, channel key, qos, retain, summary)
_OPERATIONS: dict[str, tuple[str, str, int, bool, str]] = {
    "publishSiteStatus": ("send", "siteStatus", 1, True, "A site says it is online."),
    "publishSiteState": ("send", "siteState", 1, True, "A site publishes its full state."),
    "publishEvent": ("send", "siteEvents", 1, False, "A site reports one event."),
    "receiveCommand": ("receive", "siteCommands", 1, False, "A site receives a command."),
    "publishReply": ("send", "siteReplies", 1, False, "A site answers a command."),
    "publishHeartbeat": ("send", "siteHeartbeat", 0, False, "A site says it is alive."),
    "receiveCentralStatus": (
        "receive",
        "centralStatus",
        1,
        True,
        "A site learns whether central is up.",
    ),
}


def asyncapi_document() -> dict[str, Any]:
    """The whole MQTT contract as an AsyncAPI 3.0 document, from a site agent's side.

    Central's side is the mirror image: it receives what a site sends and sends what a site
    receives (commands, and its own status).
    """
    models: list[type[WireModel]] = list(MESSAGES.values())
    _, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    components_schemas: dict[str, Any] = definitions.get("$defs", {})
    messages: dict[str, Any] = {}
    for name, model in MESSAGES.items():
        messages[_camel(name)] = {
            "name": model.__name__,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        }
    channels: dict[str, Any] = {}
    for key, (address, message, description) in _CHANNELS.items():
        channel: dict[str, Any] = {
            "address": f"{DEFAULT_ROOT}/{address}",
            "description": description,
            "messages": {_camel(message): {"$ref": f"#/components/messages/{_camel(message)}"}},
        }
        if "{siteId}" in address:
            channel["parameters"] = {"siteId": {"description": "The site's id, e.g. L0001."}}
        channels[key] = channel
    operations: dict[str, Any] = {}
    for key, (action, channel_key, qos, retain, summary) in _OPERATIONS.items():
        message = _camel(_CHANNELS[channel_key][1])
        operation: dict[str, Any] = {
            "action": action,
            "summary": summary,
            "channel": {"$ref": f"#/channels/{channel_key}"},
            "messages": [{"$ref": f"#/channels/{channel_key}/messages/{message}"}],
            "bindings": {
                "mqtt": {"qos": qos, "retain": retain, "bindingVersion": MQTT_BINDING_VERSION}
            },
        }
        if key == "receiveCommand":
            operation["reply"] = {
                "channel": {"$ref": "#/channels/siteReplies"},
                "messages": [{"$ref": "#/channels/siteReplies/messages/reply"}],
            }
        operations[key] = operation
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "lockernet site <-> central MQTT contract",
            "version": str(SCHEMA_VERSION),
            "description": (
                "The messages a lockernet site agent and central exchange over MQTT 5. "
                "Every payload is compact JSON with a schema version `v`; unknown fields are "
                "ignored, an unknown version is refused. Described from a site agent's side."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "broker:8883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "TLS; each device authenticates with its own client certificate.",
            },
            "development": {
                "host": "localhost:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "Loopback listener for development and the simulator.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components_schemas},
    }


def _camel(name: str) -> str:
    first, *rest = name.split("-")
    return first + "".join(part.capitalize() for part in rest)
