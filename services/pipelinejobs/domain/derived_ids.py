"""Ids derived from several inputs: one injective spelling for all of them.

Joining inputs with a separator (``sender + "/" + X-Message-Id``) is not injective when an
input may contain the separator: user ``alice/x`` sending ``p-1`` and user ``alice`` sending
``x/p-1`` got one message id, so one execution, and the first read the second's execution log
(issue 13). Here each input is length-prefixed before it is hashed, so distinct tuples of inputs
give distinct ids (up to SHA-256 collisions, 128 bits kept), whatever characters they hold, and
the purpose is the first input, so ids derived for different purposes never meet either.

Every id derived from more than one input uses :func:`derived_id`: a sender's message id, the
follow-up messages an execution sends, the steps an actor records for one message. Ids from one
structured input stay as they are, being injective already: job and pipeline UUIDs hash the
canonical JSON of their inputs, and the callback nonce and archive path elements join
fixed-shape UUIDs.
"""

from __future__ import annotations

import hashlib

DIGEST_HEX_LENGTH = 32
"""Hex digits kept of the SHA-256 digest (128 bits)."""

SENDER_MESSAGE = "message"
FOLLOW_UP = "follow-up"
STEP = "step"


def derived_id(purpose: str, *parts: str) -> str:
    """``<purpose>-<32 hex digits>``: SHA-256 over the length-prefixed purpose and parts.

    The readable prefix is for people reading logs; the injectivity is the hash's, which
    covers the purpose too.
    """
    digest = hashlib.sha256()
    for part in (purpose, *parts):
        if not isinstance(part, str):
            raise TypeError(f"id parts must be str, not {type(part).__name__}")
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return f"{purpose}-{digest.hexdigest()[:DIGEST_HEX_LENGTH]}"


def sender_message_id(sender: str, given: str) -> str:
    """The message id of a sender's own message id (``X-Message-Id``): a retry with the same
    header is one message, and no sender can reach another sender's message."""
    return derived_id(SENDER_MESSAGE, sender, given)


def follow_up_message_id(parent: str, number: int) -> str:
    """The id of the ``number``-th follow-up message a message's execution sends: the same on
    every delivery of the parent, so the receiver recognizes a republished follow-up."""
    return derived_id(FOLLOW_UP, parent, str(number))


def step_message_id(parent: str, step: str) -> str:
    """The id under which an actor records one step of a message (``create``, ``run``,
    ``fail``) on a document, so a redelivery finds the step already done."""
    return derived_id(STEP, parent, step)
