"""PyMongo's errors as ours, so callers never catch a driver's exception.

Reachability and timeouts are transient (``StoreUnavailable``: retry with backoff); what the
server can never accept (a duplicate key, an oversized or unencodable document, an integer beyond
64 bits, a bad URL) is permanent. Anything else the driver raises is reported as unavailability
with its message, so a message is retried rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bson.errors import InvalidDocument
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from pipelinejobs.errors import Conflict, InvalidInput, MessageTooLarge, StoreUnavailable

_OBJECT_TOO_LARGE = 10334
"""The server's BSONObjectTooLarge code: the document would pass 16 MiB."""


@contextmanager
def translated() -> Iterator[None]:
    """Run a driver call; re-raise what it raises from :mod:`pipelinejobs.errors`."""
    try:
        yield
    except DuplicateKeyError as error:
        raise Conflict(f"MongoDB refused a duplicate key: {_details(error)}") from error
    except DocumentTooLarge as error:
        raise MessageTooLarge(f"document is too large for MongoDB: {error}") from error
    except InvalidDocument as error:
        raise InvalidInput(
            f"document cannot be encoded as BSON: {error}; MongoDB stores JSON objects with "
            "string keys, strings, numbers, booleans, null and lists"
        ) from error
    except OverflowError as error:  # bson's encoder: an int beyond 64 bits
        raise InvalidInput(
            f"a number in the document is too large for MongoDB ({error}); integers must lie "
            f"between {-(2**63)} and {2**63 - 1}"
        ) from error
    except ConfigurationError as error:
        raise InvalidInput(f"MongoDB configuration is invalid: {error}") from error
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as error:
        raise StoreUnavailable(f"MongoDB is unreachable or timed out: {error}") from error
    except OperationFailure as error:
        if error.code == _OBJECT_TOO_LARGE:
            raise MessageTooLarge(f"document is too large for MongoDB: {error}") from error
        raise StoreUnavailable(f"MongoDB refused the operation: {_details(error)}") from error
    except PyMongoError as error:
        raise StoreUnavailable(f"MongoDB failed: {error}") from error


def _details(error: OperationFailure) -> str:
    details = error.details or {}
    return str(details.get("errmsg") or error)
