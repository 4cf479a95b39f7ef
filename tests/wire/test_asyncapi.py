"""docs/protocol/asyncapi.yaml describes the protocol the code speaks.

Scenario: someone changes a message schema, a topic or a reason code in tapcard.wire
and forgets the document. These tests regenerate the body schemas from the code
(`msgspec.json.schema_components`) and fail with a diff and the command that rewrites
the document. They also check that every topic family and message type is in it,
that every `$ref` resolves, and that each example is a real signed message whose body
validates against the documented schema.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import yaml

from tapcard.wire.catalog import MESSAGE_TYPES
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import unseal
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    PREFIX,
    PRODUCTS_TOPIC,
    RULES_BRANCH_PREFIX,
    RULES_DEVICE_PREFIX,
    RULES_TOPIC,
    Family,
)
from tests.wire.asyncapi_gen import (
    DOC_PATH,
    HAND_WRITTEN_SCHEMAS,
    REF,
    REGENERATE,
    body_schemas,
    build_document,
    canonical_schema,
    declared_fields,
    render,
)
from tests.wire.samples import SAMPLES, key_for


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    assert DOC_PATH.exists(), f"{DOC_PATH} is missing: run `{REGENERATE}`"
    loaded: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text())
    return loaded


def _diff(name: str, expected: Any, actual: Any) -> str:
    lines = difflib.unified_diff(
        json.dumps(actual, indent=2, sort_keys=True).splitlines(),
        json.dumps(expected, indent=2, sort_keys=True).splitlines(),
        f"{name} in {DOC_PATH.name}",
        f"{name} from the code",
        lineterm="",
    )
    return "\n".join(lines)


def test_component_schemas_match_the_code(doc: dict[str, Any]) -> None:
    documented = dict(doc["components"]["schemas"])
    for name in HAND_WRITTEN_SCHEMAS:
        documented.pop(name, None)
    fresh = body_schemas()
    problems = [f"missing from the document: {n}" for n in sorted(set(fresh) - set(documented))]
    problems += [f"not in the code: {n}" for n in sorted(set(documented) - set(fresh))]
    problems += [
        _diff(n, fresh[n], documented[n])
        for n in sorted(set(fresh) & set(documented))
        if fresh[n] != documented[n]
    ]
    assert not problems, (
        "\n\n".join(problems) + f"\n\nThe message schemas changed: run `{REGENERATE}`"
    )


def test_document_is_what_the_generator_writes() -> None:
    expected = render(build_document())
    actual = DOC_PATH.read_text()
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                actual.splitlines(), expected.splitlines(), "committed", "generated", lineterm=""
            )
        )
        pytest.fail(f"{DOC_PATH} is stale: run `{REGENERATE}`\n{diff[:6000]}")


def test_every_topic_family_has_a_channel(doc: dict[str, Any]) -> None:
    addresses = {c["address"] for c in doc["channels"].values()}
    expected = {f"{PREFIX}/dev/{{device}}/{f.value}" for f in Family}
    scoped = {f"{RULES_BRANCH_PREFIX}/{{branch}}", f"{RULES_DEVICE_PREFIX}/{{device}}"}
    assert addresses == expected | {RULES_TOPIC, DENYLIST_TOPIC, PRODUCTS_TOPIC} | scoped


def test_every_message_type_is_documented(doc: dict[str, Any]) -> None:
    assert set(doc["components"]["messages"]) == set(MESSAGE_TYPES)
    channel_messages = {
        name for channel in doc["channels"].values() for name in channel["messages"]
    }
    assert channel_messages == set(MESSAGE_TYPES)


def test_operations_are_from_the_hubs_point_of_view(doc: dict[str, Any]) -> None:
    actions = {
        op["channel"]["$ref"].rsplit("/", 1)[1]: (op["action"], op["bindings"]["mqtt"])
        for op in doc["operations"].values()
    }
    assert actions == {
        "deviceTx": ("receive", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceResult": ("send", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceStatus": ("receive", {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}),
        "deviceHealth": ("receive", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceStaff": ("receive", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceStaffReply": ("send", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceQuery": ("receive", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceReply": ("send", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceControl": ("send", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "deviceBay": ("send", {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}),
        "rules": ("send", {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}),
        "denylist": ("send", {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}),
        "products": ("send", {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}),
        "branchRules": ("send", {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}),
        "deviceRules": ("send", {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}),
    }
    reply = doc["operations"]["receiveDeviceQuery"]["reply"]
    assert reply["channel"] == {"$ref": "#/channels/deviceReply"}
    query_bindings = doc["components"]["messages"]["SnapshotQuery"]["bindings"]["mqtt"]
    assert {"responseTopic", "correlationData"} <= set(query_bindings)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    unresolved = []
    for ref in sorted(set(_refs(doc))):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                unresolved.append(ref)
                break
            node = node[part]
    assert not unresolved


def test_reason_codes_are_listed(doc: dict[str, Any]) -> None:
    listed = {
        item["title"]: item["const"] for item in doc["components"]["schemas"]["Reason"]["oneOf"]
    }
    assert listed == {r.name: r.value for r in Reason}


@pytest.mark.parametrize("name", sorted(MESSAGE_TYPES))
def test_examples_are_signed_messages_that_match_their_schema(
    doc: dict[str, Any], name: str
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    [example] = doc["components"]["messages"][name]["examples"]
    payload = json.dumps(example["payload"], separators=(",", ":")).encode()
    _, body = unseal(payload, SAMPLES[name].topic, key_for, MESSAGE_TYPES[name])
    assert body == SAMPLES[name].body
    resource = referencing.Resource.from_contents(
        doc, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry = referencing.Registry().with_resource("urn:asyncapi", resource)
    schema = {"$ref": f"urn:asyncapi#/components/schemas/{name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = [e.message for e in validator.iter_errors(json.loads(example["payload"]["body"]))]
    assert errors == []
    envelope_schema = {"$ref": "urn:asyncapi#/components/schemas/Envelope"}
    envelope_validator = jsonschema.Draft202012Validator(envelope_schema, registry=registry)
    assert [e.message for e in envelope_validator.iter_errors(example["payload"])] == []


@dataclass(frozen=True)
class _Inner:
    n: int = 0


@dataclass(frozen=True)
class _Sample:
    """First line
    and an indented second line."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    inner: _Inner | None = None


_INNER_REF = REF.format(name="_Inner")
# _Sample's schema as msgspec 0.18 .. 0.21 writes it: the docstring's indentation kept,
# null first among the alternatives, nothing for the default_factory.
_OLDER = {
    "title": "_Sample",
    "description": "First line\n    and an indented second line.",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "inner": {"anyOf": [{"type": "null"}, {"$ref": _INNER_REF}], "default": None},
    },
    "required": ["name"],
}
# ... and as msgspec 0.23 does (dedented, the reference first, `{}` for the factory),
# here also with its keys in another order.
_NEWER = {
    "type": "object",
    "required": ["name"],
    "title": "_Sample",
    "description": "First line\nand an indented second line.",
    "properties": {
        "name": {"type": "string"},
        "counts": {"default": {}, "additionalProperties": {"type": "integer"}, "type": "object"},
        "inner": {"default": None, "anyOf": [{"$ref": _INNER_REF}, {"type": "null"}]},
    },
}


def test_the_canonical_form_is_the_same_whichever_msgspec_wrote_the_schema() -> None:
    fields = declared_fields([_Sample])["_Sample"]
    older, newer = canonical_schema(_OLDER, fields), canonical_schema(_NEWER, fields)
    assert json.dumps(older) == json.dumps(newer)  # in the same order, too
    assert older["description"] == "First line\nand an indented second line."
    assert older["properties"]["counts"]["default"] == {}
    assert older["properties"]["inner"]["anyOf"] == [{"$ref": _INNER_REF}, {"type": "null"}]
    assert list(older) == ["title", "description", "type", "properties", "required"]
    _, installed = msgspec.json.schema_components([_Sample], ref_template=REF)
    plain = json.loads(json.dumps(installed["_Sample"]))
    assert json.dumps(canonical_schema(plain, fields)) == json.dumps(older)
