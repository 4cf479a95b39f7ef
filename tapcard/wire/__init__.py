"""The signed MQTT protocol between devices and the hub (no paho, no SQL here).

`topics` names the topic families, `messages` holds one schema per message type,
`envelope` signs and verifies them, `codes` holds the reason codes. The AsyncAPI
document in docs/protocol/asyncapi.yaml describes the same, and a test holds them equal.
"""

PROTOCOL_VERSION = 1
