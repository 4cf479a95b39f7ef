"""Generates docs/protocol/asyncapi.yaml from the code: the message schemas come from
`msgspec.json.schema_components` over `tapcard.wire.messages.MESSAGE_TYPES`, the reason
codes from `tapcard.wire.codes.Reason`, the examples from tests/wire/samples.py.

    python -m tests.wire.asyncapi_gen            # print the document
    python -m tests.wire.asyncapi_gen --write    # rewrite docs/protocol/asyncapi.yaml

tests/wire/test_asyncapi.py fails when the committed document differs from this output.
Operations are written from the hub's point of view: `receive` is what devices publish
and the hub consumes, `send` is what the hub publishes.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import yaml

from tapcard import __version__
from tapcard.wire import PROTOCOL_VERSION
from tapcard.wire.catalog import MESSAGE_TYPES
from tapcard.wire.codes import FORM_REASONS, Reason
from tapcard.wire.envelope import HUB_SIGNER, JSON_DEPTH_MAX, SIG_B64_LEN, Envelope
from tapcard.wire.messages import PAYLOAD_BYTES_MAX, RULES_PAYLOAD_BYTES_MAX
from tapcard.wire.topics import DEVICE_ID_RE, PREFIX, SHARED_GROUP, Family
from tests.wire.samples import SAMPLES

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "asyncapi.yaml"
REGENERATE = "python -m tests.wire.asyncapi_gen --write"
REF = "#/components/schemas/{name}"
HAND_WRITTEN_SCHEMAS = ("Reason",)

SIGNATURE_RULE = 'sig = base64(Ed25519_sign(signer_key, b"tapcard/v1\\n" + topic + b"\\n" + body))'

DESCRIPTION = f"""\
The signed MQTT protocol between tapcard devices (kiosks, counter terminals) and
the hub. Generated from the code by `{REGENERATE}`; do not edit by hand.

**Envelope.** Every payload on every topic is one JSON envelope:
`{{"v":{PROTOCOL_VERSION},"signer":"<device id or {HUB_SIGNER}>",`
`"body":"<JSON text>","sig":"<base64>"}}`.
`body` is the message (schemas below, one per message type) as JSON *text*, so
that the signature covers exact bytes. The signature is Ed25519 over the domain tag,
the topic the message is published on and the UTF-8 body bytes:

    {SIGNATURE_RULE}

`sig` is standard padded base64 of the 64-byte signature ({SIG_B64_LEN} characters).
Because the topic is signed, a message cannot be replayed on another topic (another
device's, or another family). Devices sign with their own key (registered with the
hub, `tapcard hub device add`); the hub signs results, replies, rules and deny lists
with its key, whose public half is in each device's provisioning bundle.

**Checks on receipt, in order** (the first that fails gives the reason code):
size (`{PAYLOAD_BYTES_MAX}` bytes; devices allow `{RULES_PAYLOAD_BYTES_MAX}` for rules
and deny list) -> OVERSIZE; envelope JSON -> MALFORMED; envelope `v` ->
UNSUPPORTED_VERSION; on device topics the signer must be the topic's device ->
DEVICE_MISMATCH; signer known and active -> UNKNOWN_DEVICE / DEVICE_REVOKED;
signature -> BAD_SIGNATURE; body JSON, or nesting deeper than {JSON_DEPTH_MAX} ->
MALFORMED; body schema (unknown fields included) -> SCHEMA; body `v` ->
UNSUPPORTED_VERSION; a `device` field in the body must name the topic's device ->
DEVICE_MISMATCH. The body is decoded only after the signature holds. A refused intent
on `tx` of a registered, active device still gets a TxResult (with the ids the hub
could read, else the nil UUID and seq 0); the hub signs nothing for an unknown or
revoked device's topic, and other refused messages are dropped. Every refusal is
counted by reason.

**Versions.** Every body and the envelope carry `v` = {PROTOCOL_VERSION}; receivers refuse
other versions. Incompatible changes get a new topic prefix (`tapcard/v2/...`).

**Device ids** match `{DEVICE_ID_RE.pattern}`, so they can never hold MQTT wildcards
(`+`, `#`) or topic level separators.

**Exactly once.** Intents go at QoS 1 and may arrive more than once; the hub applies
each transaction id once and answers duplicates with the stored result. Several hub
workers may share the device subscriptions as `$share/{SHARED_GROUP}/...`.
"""


# Schema keywords in this order, then any others alphabetically; msgspec's own order
# is no contract, and the document must not change with the msgspec that wrote it.
SCHEMA_KEY_ORDER = (
    *("title", "description", "$ref", "type", "format", "enum", "const", "pattern"),
    *("minLength", "maxLength", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"),
    *("minItems", "maxItems", "anyOf", "items", "prefixItems", "properties"),
    *("additionalProperties", "required", "default"),
)


def body_schemas() -> dict[str, Any]:
    """The JSON Schemas of the envelope and every body type, fresh from the code, in a
    canonical form that is the same whichever msgspec (0.18 .. 0.23) generated them."""
    types: list[Any] = [Envelope, *MESSAGE_TYPES.values()]
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    plain: dict[str, Any] = json.loads(json.dumps(components))  # tuples -> lists, as in YAML
    fields = declared_fields(types)
    return {name: canonical_schema(plain[name], fields.get(name)) for name in sorted(plain)}


def declared_fields(types: list[Any]) -> dict[str, tuple[mi.Field, ...]]:
    """Every struct and dataclass reachable from `types`, by name (the schema's name)."""
    found: dict[str, tuple[mi.Field, ...]] = {}

    def walk(node: object) -> None:
        if isinstance(node, mi.StructType | mi.DataclassType):
            if node.cls.__name__ in found:
                return  # seen (also ends a recursive type)
            found[node.cls.__name__] = node.fields
        if isinstance(node, tuple):
            for item in node:
                walk(item)
        elif isinstance(node, mi.Type | mi.Field):
            for name in node.__struct_fields__:
                walk(getattr(node, name))

    walk(tuple(mi.multi_type_info(types)))
    return found


def canonical_schema(schema: dict[str, Any], fields: tuple[mi.Field, ...] | None) -> dict[str, Any]:
    """Properties and `required` in the order msgspec.inspect lists the fields, and the
    defaults the fields declare (msgspec 0.23 writes `{}` for a dataclass's
    `default_factory=dict`, older versions nothing: the document says `{}` for both)."""
    schema = _canonical(schema)
    if fields is None or "properties" not in schema:
        return schema
    properties = dict(schema["properties"])
    ordered: dict[str, Any] = {}
    for f in fields:
        prop = {k: v for k, v in properties.pop(f.encode_name).items() if k != "default"}
        if (default := _declared_default(f)) is not msgspec.NODEFAULT:
            prop["default"] = json.loads(msgspec.json.encode(default))
        ordered[f.encode_name] = _ordered_keys(prop)
    # What no field declares is a tagged union's tag, which comes first on the wire too.
    schema["properties"] = properties | ordered
    rank = {f.encode_name: i for i, f in enumerate(fields)}
    if "required" in schema:
        schema["required"] = sorted(schema["required"], key=lambda k: rank.get(k, -1))
    return _ordered_keys(schema)


EMPTY_FACTORIES = (list, dict, set, frozenset, tuple)


def _declared_default(f: mi.Field) -> Any:
    """The value a field declares as its default, or NODEFAULT: a plain default, or the
    empty collection of a list/dict/set factory (a struct's `[]` default is stored as
    one), never what another factory builds."""
    if f.default is not msgspec.NODEFAULT and f.default is not msgspec.UNSET:
        return f.default
    if f.default_factory in EMPTY_FACTORIES:
        return f.default_factory()
    return msgspec.NODEFAULT


def _canonical(node: Any, key: str = "") -> Any:
    """Docstrings dedented as inspect.cleandoc does (msgspec 0.23 does it, older ones
    keep the source indentation), alternatives in a fixed order, keys in SCHEMA_KEY_ORDER.
    `properties` maps field names, whose order canonical_schema sets."""
    if isinstance(node, list):
        items = [_canonical(item) for item in node]
        if key == "anyOf":  # order means nothing here, and msgspec 0.22 changed it
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    if not isinstance(node, dict):
        return node
    if key == "properties":
        return {name: _canonical(value) for name, value in node.items()}
    out = {k: _canonical(v, k) for k, v in node.items()}
    if isinstance(out.get("description"), str):
        out["description"] = inspect.cleandoc(out["description"])
    return _ordered_keys(out)


def _ordered_keys(schema: dict[str, Any]) -> dict[str, Any]:
    rank = {k: i for i, k in enumerate(SCHEMA_KEY_ORDER)}
    keys = sorted(schema, key=lambda k: (rank.get(k, len(rank)), k))
    return {k: schema[k] for k in keys}


def reason_schema() -> dict[str, Any]:
    form = ", ".join(r.name for r in sorted(FORM_REASONS))
    return {
        "title": "Reason",
        "description": (
            "Reason codes of TxResult.reason and Snapshot.reason (tapcard.wire.codes). "
            f"Values never change. Rejections for the message's form ({form}) are never "
            "stored against the transaction id, because nothing in such a message can be "
            "trusted; the result then carries the ids the hub could read, or the nil "
            "UUID and seq 0."
        ),
        "type": "integer",
        "oneOf": [{"const": int(r), "title": r.name} for r in Reason],
    }


def _parameters() -> dict[str, Any]:
    return {
        "device": {
            "description": f"the device id; matches {DEVICE_ID_RE.pattern}",
            "examples": ["kiosk-1", "terminal-shop-1-a"],
        },
        "branch": {
            "description": f"the branch id; matches {DEVICE_ID_RE.pattern}",
            "examples": ["shop-1"],
        },
    }


# family -> (channel id, message, sender, retained, summary)
DEVICE_CHANNELS: dict[Family, tuple[str, str, str, bool, str]] = {
    Family.TX: ("deviceTx", "TxIntent", "device", False, "signed transaction intents"),
    Family.RESULT: (
        "deviceResult",
        "TxResults",
        "hub",
        False,
        "accepted / rejected per intent, batched per device",
    ),
    Family.STATUS: ("deviceStatus", "Status", "device", True, "online / offline (last will)"),
    Family.HEALTH: ("deviceHealth", "Health", "device", False, "heartbeat"),
    Family.QUERY: ("deviceQuery", "SnapshotQuery", "device", False, "card snapshot requests"),
    Family.REPLY: ("deviceReply", "Snapshot", "hub", False, "card snapshot responses"),
    Family.STAFF: ("deviceStaff", "StaffRequest", "device", False, "staff requests (terminals)"),
    Family.STAFF_REPLY: (
        "deviceStaffReply",
        "StaffReply",
        "hub",
        False,
        "answers to staff requests",
    ),
    Family.CONTROL: (
        "deviceControl",
        "Resend",
        "hub",
        False,
        "requests to the device: resend from a sequence (after a hub restore)",
    ),
    Family.BAY: (
        "deviceBay",
        "BayStart",
        "hub",
        False,
        "a wash bay's start issued by the hub (to the bay and its paired kiosk)",
    ),
}
CONFIG_CHANNELS: dict[str, tuple[str, str, str]] = {
    "rules": ("rules", "RulesDoc", "the active rule set, versioned"),
    "denylist": ("denylist", "DenyList", "lost and blocked cards, versioned"),
    "products": ("products", "ProductCatalog", "the product catalog, versioned"),
    "branchRules": (
        "rules/branch/{branch}",
        "RulesDoc",
        "a branch's effective rules, where the rule set has an override for it",
    ),
    "deviceRules": (
        "rules/device/{device}",
        "RulesDoc",
        "a device's own effective rules, where the rule set has an override for it",
    ),
}
SCOPED_RULES_DESCRIPTION = (
    "Retained, QoS 1, signed by the hub: the chain's rules with the branch's override "
    "(and the device's, over it) merged in; `rules.effective` names them and the digest "
    "of the merged rule set, and `rules.overrides` is empty. A device subscribes to "
    "tapcard/v1/rules, its branch's and its own; of one version it keeps the most "
    "specific (device over branch over chain), and a newer version from any of them. "
    "A copy whose override has ended stays retained at its older version and is passed "
    "over. Devices read only their own branch's and their own (broker ACL)."
)


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for family, (channel_id, message, sender, retained, summary) in DEVICE_CHANNELS.items():
        direction = "device -> hub" if sender == "device" else "hub -> device"
        if family is Family.STATUS:
            direction = "device -> all"
        channels[channel_id] = {
            "address": f"{PREFIX}/dev/{{device}}/{family.value}",
            "title": f"{family.value} ({direction})",
            "summary": summary + (" (retained)" if retained else ""),
            "parameters": {"device": {"$ref": "#/components/parameters/device"}},
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
    channels["deviceStatus"]["description"] = (
        "Retained, QoS 1. When it connects, a device sets its MQTT last will to "
        "Status(online=false) on this topic (retained, QoS 1, signed at connect time) and "
        "then publishes Status(online=true) retained with the same at_ms as the will: the "
        "hub keeps the status with the highest at_ms (ties go to the later message), so the "
        "will must not carry an older at_ms than the online status it follows. A "
        "zero-length retained payload clears the topic; receivers ignore empty payloads."
    )
    channels["deviceQuery"]["description"] = (
        "MQTT 5 request/response: the device sets ResponseTopic to its own reply topic "
        "(tapcard/v1/dev/{device}/reply; a query naming any other topic is dropped) "
        "and CorrelationData to bytes of its choice, which the hub copies to the reply."
    )
    for channel_id, (name, message, summary) in CONFIG_CHANNELS.items():
        channels[channel_id] = {
            "address": f"{PREFIX}/{name}",
            "title": f"{name} (hub -> devices, retained)",
            "summary": summary,
            "description": (
                "Retained, QoS 1, signed by the hub. A device that connects gets the "
                "latest at once; it keeps a version only if it is newer than its own."
            ),
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        for parameter in ("branch", "device"):
            if f"{{{parameter}}}" in name:
                channels[channel_id]["description"] = SCOPED_RULES_DESCRIPTION
                channels[channel_id]["parameters"] = {
                    parameter: {"$ref": f"#/components/parameters/{parameter}"}
                }
    return channels


def _mqtt_op(qos: int, retain: bool) -> dict[str, Any]:
    return {"mqtt": {"qos": qos, "retain": retain, "bindingVersion": "0.2.0"}}


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for _family, (channel_id, message, sender, retained, summary) in DEVICE_CHANNELS.items():
        action = "receive" if sender == "device" else "send"
        name = f"{action}{channel_id[0].upper()}{channel_id[1:]}"
        operations[name] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"the hub {action}s {summary}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message}"}],
            "bindings": _mqtt_op(1, retained),
        }
    operations["receiveDeviceQuery"]["reply"] = {
        "address": {
            "location": "$message.header#/ResponseTopic",
            "description": "the device's own reply topic",
        },
        "channel": {"$ref": "#/channels/deviceReply"},
        "messages": [{"$ref": "#/channels/deviceReply/messages/Snapshot"}],
    }
    for channel_id, (_name, message, summary) in CONFIG_CHANNELS.items():
        operations[f"send{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"the hub publishes {summary}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message}"}],
            "bindings": _mqtt_op(1, True),
        }
    return operations


def _payload(message: str) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": "#/components/schemas/Envelope"},
            {
                "type": "object",
                "properties": {
                    "body": {
                        "description": f"the {message} body as JSON text",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": REF.format(name=message)},
                    }
                },
            },
        ]
    }


def _messages() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for name, body_type in MESSAGE_TYPES.items():
        sample = SAMPLES[name]
        signer = "the hub" if sample.signer == HUB_SIGNER else "the device"
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (body_type.__doc__ or name).strip().splitlines()[0],
            "description": f"Signed by {signer}. Body schema: components/schemas/{name}.",
            "contentType": "application/json",
            "payload": _payload(name),
            "examples": [
                {
                    "name": f"{name}-golden",
                    "summary": f"tests/wire/golden/{name}.json, on {sample.topic}",
                    "payload": json.loads(sample.sealed()),
                }
            ],
        }
    messages["SnapshotQuery"]["bindings"] = {
        "mqtt": {
            "responseTopic": {"type": "string", "pattern": r"^tapcard/v1/dev/[a-z0-9_-]+/reply$"},
            "correlationData": {"type": "string", "format": "binary"},
            "bindingVersion": "0.2.0",
        }
    }
    messages["Snapshot"]["bindings"] = {
        "mqtt": {
            "correlationData": {
                "type": "string",
                "format": "binary",
                "description": "copied from the query",
            },
            "bindingVersion": "0.2.0",
        }
    }
    messages["Status"]["description"] += " Also the device's last will (online=false)."
    return messages


def build_document() -> dict[str, Any]:
    schemas = body_schemas()
    schemas["Reason"] = reason_schema()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tapcard wire protocol",
            "version": f"{PROTOCOL_VERSION}.0.0",
            "description": DESCRIPTION,
            "x-software-version": __version__,
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "{host}:{port}",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "mosquitto at HQ (or the hub's private one)",
                "variables": {"host": {"default": "127.0.0.1"}, "port": {"default": "1883"}},
                "bindings": {"mqtt": {"cleanSession": False, "bindingVersion": "0.2.0"}},
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "parameters": _parameters(),
            "messages": _messages(),
            "schemas": schemas,
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the prose stays readable."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(document: dict[str, Any]) -> str:
    header = f"# Generated by `{REGENERATE}`; do not edit by hand.\n"
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC_PATH}")
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text)
        print(f"wrote {DOC_PATH}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
