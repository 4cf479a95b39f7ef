"""tapcard: membership cards for chains of shops, car parks and car washes.

The shared packages live here: `tapcard.domain` (rules and ledger arithmetic, no I/O),
`tapcard.wire` (the signed MQTT protocol), `tapcard.cards` and `tapcard.readers` (the
card and its readers), `tapcard.device` (the device runtime) and `tapcard.ui` (the
presenters). `hub`, `kiosk` and `terminal` are the programs, and `launcher` (the
`tapcard` command and the demo) wires them together; nothing here imports those.
"""

__version__ = "0.1.0"
