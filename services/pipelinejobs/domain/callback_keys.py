"""The natural idempotency key of a compute-service callback that carries no ``X-Message-Id``.

Agave and Tapis retry a job notification when they got no reply (the gateway crashed after it
had queued the first attempt), and send no idempotency key. Without one, each attempt was a new
message and a retried callback was applied twice. A compute job record names itself, though: the
job ``id``, its ``status`` and ``lastUpdated`` (the time of that status change) are the same on
every retry of one notification and differ between notifications. Together with the actor and
the URL parameters (which job, which event), they are the key the gateway uses as if the sender
had sent it as ``X-Message-Id`` (then scoped to the sender like any other).

The parts are length-prefixed before they are hashed (:func:`~pipelinejobs.domain.derived_ids.
derived_id`), so two callbacks that differ in any part never share a key, whatever characters
the parts hold. A body without all three fields (not a
compute job record, or one without ``lastUpdated``) has no natural key: each attempt is a new
message, as before. Our local execution system sends its own ``X-Message-Id`` per notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelinejobs.domain.derived_ids import derived_id

COMPUTE_CALLBACK = "compute-callback"
RECORD_FIELDS = ("id", "status", "lastUpdated")
"""The fields of a compute job record that identify one notification of it."""


def callback_key(actor: str, context: Mapping[str, str], document: Any) -> str | None:
    """The natural key of a compute job record sent to ``actor`` with URL parameters
    ``context``; None when ``document`` is not a record with a job id, status and lastUpdated."""
    if not isinstance(document, Mapping):
        return None
    values = [document.get(field) for field in RECORD_FIELDS]
    strings = [value for value in values if isinstance(value, str) and value]
    if len(strings) != len(RECORD_FIELDS):
        return None
    parts = [actor, str(len(context))]
    for name in sorted(context):
        parts += [name, context[name]]
    parts += strings
    return derived_id(COMPUTE_CALLBACK, *parts)
