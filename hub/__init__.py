"""The hub: authoritative ledger, rules, device registry, ingest and admin CLI.

Imports `tapcard.domain` and `tapcard.wire`; never the kiosk or terminal.
"""
