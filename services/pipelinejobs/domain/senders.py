"""Who sent a message, as its execution records it: one spelling for the gateway and the actors.

A person is ``user:<name>`` when they authenticated with a Bearer token and ``nonce:<owner>``
when they used a nonce; follow-up messages come from ``actor:<alias>``, which is no person.
Records checked against a caller's user name (a nonce's ``owner``) store the bare name.
"""

from __future__ import annotations

USER_PREFIX = "user:"
NONCE_PREFIX = "nonce:"
PERSON_PREFIXES = (USER_PREFIX, NONCE_PREFIX)
UNOWNED = "(no owner)"
"""The user a nonce without an owner acts as (one an actor created for a job no person
launched). No Bearer token can carry this name: the token issuer and verifier refuse it."""


def user_sender(user: str) -> str:
    return f"{USER_PREFIX}{user}"


def nonce_sender(owner: str) -> str:
    return f"{NONCE_PREFIX}{owner}"


def sender_user(sender: str | None) -> str | None:
    """The user name in a sender (``user:alice`` and ``nonce:alice`` give ``alice``), or None
    when the sender is no person (an actor, or none)."""
    if sender is None:
        return None
    for prefix in PERSON_PREFIXES:
        if sender.startswith(prefix) and len(sender) > len(prefix):
            return sender[len(prefix) :]
    return None
