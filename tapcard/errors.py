"""Typed errors for expected operating failures (bad input, card pulled, broker gone).

Programmer errors are assertions and crash; these are handled and shown to people.
"""


class TapcardError(Exception):
    """Base of every expected tapcard failure; its message is safe to show to a user."""


class ValidationError(TapcardError):
    """Input that does not satisfy a schema or a rule; nothing was changed."""


class NotFoundError(TapcardError):
    """A member, card, device or record that does not exist."""


class ConflictError(TapcardError):
    """The request contradicts the current state (card already lost, receipt used, ...)."""
