"""Card credentials and the card profile: what a card carries and how it is checked.

No I/O and no reader libraries here; `tapcard.readers` moves the bytes.
"""
