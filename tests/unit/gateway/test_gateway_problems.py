"""Our error tree mapped to HTTP statuses, once."""

from __future__ import annotations

import json

import pytest
from pipelinejobs.errors import (
    BusUnavailable,
    Conflict,
    InvalidIdentifier,
    InvalidInput,
    MessageTooLarge,
    NonceRejected,
    NotFound,
    SchemaViolation,
    StoreUnavailable,
    TransitionNotAllowed,
    Unauthorized,
)
from pipelinejobs.gateway.problems import Forbidden, error_response


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("x"), 422),
        (InvalidIdentifier("x"), 422),
        (SchemaViolation("s", ["$.a: bad"]), 422),
        (MessageTooLarge("x"), 413),
        (Unauthorized("x"), 401),
        (NonceRejected("x"), 403),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (TransitionNotAllowed("CREATED", "finish", ["run"]), 409),
        (BusUnavailable("x"), 503),
        (StoreUnavailable("x"), 503),
        (RuntimeError("x"), 500),
    ],
)
def test_each_error_has_its_status(error: Exception, status: int) -> None:
    response = error_response(error)

    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert json.loads(bytes(response.body))["status"] == status


def test_schema_violations_list_each_path() -> None:
    response = error_response(SchemaViolation("event", ["$.uuid: bad", "$.name: missing"]))

    assert json.loads(bytes(response.body))["errors"] == ["$.uuid: bad", "$.name: missing"]


def test_unexpected_errors_do_not_leak_their_text() -> None:
    response = error_response(RuntimeError("token=0dc73dc3ff39b49a"))

    assert b"0dc73dc3ff39b49a" not in response.body


def test_transient_errors_ask_for_a_retry() -> None:
    response = error_response(BusUnavailable("broker gone"))

    assert response.headers["retry-after"] == "5"
    assert "send the request again" in json.loads(bytes(response.body))["detail"]
