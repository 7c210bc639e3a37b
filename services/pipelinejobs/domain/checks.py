"""Argument checks at the public boundary: a wrong argument is refused with our own error.

Callers are programs (actors, the SDK, a user's script) as often as people. A bare
``AttributeError`` or ``TypeError`` from deep inside a rule names neither the argument nor what
would have been accepted, and it escapes every ``except InvalidInput`` the caller wrote. So public
functions check the type of what they are given first, with these helpers.
"""

from __future__ import annotations

from pipelinejobs.errors import InvalidInput

_MAX_SHOWN = 40


def described(value: object) -> str:
    """How a refused value appears in an error: its text when that is short, and its type."""
    if value is None:
        return "None"
    text = repr(value)
    kind = type(value).__name__
    return f"{text} ({kind})" if len(text) <= _MAX_SHOWN else f"a value of type {kind}"


def refused(field: str, value: object, accepted: str) -> InvalidInput:
    """The error for ``value`` given as ``field``: what it got and what would be accepted."""
    return InvalidInput(f"{field} must be {accepted}; got {described(value)}")
