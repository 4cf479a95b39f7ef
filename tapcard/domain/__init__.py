"""The membership domain: rules as data, pure pricing/earning functions, ledger legs.

No I/O happens in this package (a test checks its imports): it is shared by the hub,
which applies transactions authoritatively, and by devices, which quote them offline
with the very same code and rule version.
"""
