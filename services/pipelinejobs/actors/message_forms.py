"""Reading what a manager's message carries: body fields completed by URL parameters, and the
token it presents.

The documentation lets a sender give ``uuid``, ``token`` and the event name in the JSON body or
as URL parameters of the HTTP request (Abaco's message context), and compute services call back
with URL templates whose macros (``${JOB_STATUS}``) may arrive unsubstituted. Both managers read
messages the same way, so the rules live here: empty values and unsubstituted macros count as
absent, and a field given in both places must say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pipelinejobs.actors.base import Message
from pipelinejobs.errors import InvalidInput

_MACRO = re.compile(r"\$\{[^}]*\}")


def is_macro(value: str) -> bool:
    """Whether ``value`` holds an unsubstituted compute-service macro, e.g. ``${JOB_STATUS}``."""
    return _MACRO.search(value) is not None


def url_value(message: Message, *names: str) -> str | None:
    """The first of the URL parameters ``names`` that has a real value (not empty, no macro)."""
    for name in names:
        value = message.param(name)
        if value is not None and not is_macro(value):
            return value
    return None


def completed(
    document: Mapping[str, Any], message: Message, fields: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """``document`` with each missing field of ``fields`` taken from its URL parameters.

    ``fields`` maps a body field to the URL parameter names that may carry it, e.g.
    ``{"name": ("name", "event")}``. A field given in both places with different values is
    refused rather than guessed between (strings compare case-insensitively).
    """
    merged = dict(document)
    for field, names in fields.items():
        from_url = url_value(message, *names)
        if from_url is None:
            continue
        if field not in merged or merged[field] is None:
            merged[field] = from_url
        elif not _same(merged[field], from_url):
            raise InvalidInput(
                f"field {field!r} is given in the body and as URL parameter "
                f"{'/'.join(names)} with different values; give it in one place"
            )
    return merged


def _same(given: object, from_url: str) -> bool:
    if isinstance(given, str):
        return given.lower() == from_url.lower()
    return False
