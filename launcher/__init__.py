"""The composition root: the `tapcard` command and the demo wire the programs together.

It sits above everything: it imports `hub`, `kiosk`, `terminal` and the shared `tapcard`
packages, and nothing imports it (tests/test_layers.py checks both), so the shared
packages never point up at a program.
"""
