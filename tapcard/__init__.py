"""tapcard: membership cards for chains of shops, car parks and car washes.

The shared packages live here: `tapcard.domain` (rules and ledger arithmetic, no I/O),
`tapcard.wire` (the signed MQTT protocol). `hub`, `kiosk` and `terminal` are the programs.
"""

__version__ = "0.1.0"
