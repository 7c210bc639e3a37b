"""Errors as ``application/problem+json`` (RFC 9457), mapped once from our error tree.

Every refusal the gateway sends has a stable ``type`` URL a client can branch on, a ``title``
for the kind of problem, a ``detail`` a person can act on, and, for input problems, an
``errors`` list with one line per field, each starting with where the problem is.

Refusals on Abaco's routes (``/actors/v2...``) are also Abaco error envelopes, so Abaco's own
clients (the abaco CLI prints ``.message``) show the reason: ``status`` is Abaco's ``"error"``
there instead of the HTTP status (which the response's status line carries; RFC 9457 has
consumers ignore a ``status`` member that is not a number), ``message`` repeats ``detail``, and
``result`` (null) and ``version`` complete the envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from pipelinejobs import __version__
from pipelinejobs.errors import (
    BusUnavailable,
    Conflict,
    InvalidInput,
    MessageTooLarge,
    NonceRejected,
    NotFound,
    PermanentError,
    PipelineJobsError,
    StoreUnavailable,
    TransientError,
    TransitionNotAllowed,
    Unauthorized,
)

ABACO_PREFIX = "/actors/v2"
"""Routes whose refusals are Abaco error envelopes too."""
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://pipelinejobs.dev/problems/"
RETRY_AFTER_SECONDS = 5


class Forbidden(PermanentError):
    """The caller is known but may not do this (another sender's execution or nonce)."""


class UnsupportedMediaType(InvalidInput):
    """A body in a content type the endpoint does not read."""


class IncompleteBody(InvalidInput):
    """The client went away, or was cut off at the body deadline, before its body was in."""

    def __init__(self) -> None:
        super().__init__(
            "the request body did not arrive in full (the client disconnected, or sent it more "
            "slowly than the server's body timeout allows); send the whole request again"
        )


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="URL naming the kind of problem")
    title: str
    status: int | Literal["error"] = Field(
        description='the HTTP status; Abaco\'s "error" on the /actors/v2 routes'
    )
    detail: str = Field(description="what went wrong and what would be accepted")
    errors: list[str] | None = Field(
        default=None, description="one line per problem, each starting with its location"
    )
    message: str | None = Field(default=None, description="/actors/v2 routes: the detail again")
    result: None = Field(default=None, description="/actors/v2 routes: null")
    version: str | None = Field(default=None, description="/actors/v2 routes: the version")


@dataclass(frozen=True)
class ProblemKind:
    status: int
    slug: str
    title: str


# Most specific first: the first isinstance match decides.
_KINDS: tuple[tuple[type[BaseException], ProblemKind], ...] = (
    (MessageTooLarge, ProblemKind(413, "message-too-large", "Message too large")),
    (IncompleteBody, ProblemKind(408, "request-timeout", "Request Timeout")),
    (UnsupportedMediaType, ProblemKind(415, "unsupported-media-type", "Unsupported media type")),
    (InvalidInput, ProblemKind(422, "invalid-input", "Invalid input")),
    (Unauthorized, ProblemKind(401, "unauthorized", "Not authenticated")),
    (NonceRejected, ProblemKind(403, "nonce-rejected", "Nonce rejected")),
    (Forbidden, ProblemKind(403, "forbidden", "Forbidden")),
    (NotFound, ProblemKind(404, "not-found", "Not found")),
    (TransitionNotAllowed, ProblemKind(409, "transition-not-allowed", "Event not allowed")),
    (Conflict, ProblemKind(409, "conflict", "Conflict")),
    (PermanentError, ProblemKind(400, "bad-request", "Bad request")),
    (BusUnavailable, ProblemKind(503, "bus-unavailable", "Message bus unavailable")),
    (StoreUnavailable, ProblemKind(503, "store-unavailable", "Store unavailable")),
    (TransientError, ProblemKind(503, "unavailable", "Service unavailable")),
)
INTERNAL = ProblemKind(500, "internal-error", "Internal error")

DOCUMENTED_STATUSES = {
    401: "No credentials, or credentials that are not valid",
    403: "A nonce below the needed level, used up, expired or for another actor; or "
    "another sender's execution or nonce",
    404: "Unknown actor, execution, nonce or document",
    409: "The change contradicts what is stored",
    413: "Body larger than the configured limit",
    415: "Body in a content type the endpoint does not read",
    422: "Input that breaks its schema; errors names each field",
    503: "Bus or store unavailable; retry after the Retry-After seconds",
}


def kind_of(error: BaseException) -> ProblemKind:
    for error_type, kind in _KINDS:
        if isinstance(error, error_type):
            return kind
    return INTERNAL


def problem_response(
    kind: ProblemKind,
    detail: str,
    *,
    errors: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    abaco: bool = False,
) -> JSONResponse:
    """The problem document for ``kind``, with the headers its status calls for; with
    ``abaco``, also an Abaco error envelope (see the module docstring)."""
    content: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    if errors:
        content["errors"] = list(errors)
    if abaco:
        content.update(status="error", message=detail, result=None, version=__version__)
    extra = dict(headers or {})
    if kind.status == 401:
        extra.setdefault("WWW-Authenticate", 'Bearer realm="pipelinejobs"')
    if kind.status == 503:
        extra.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(
        content, status_code=kind.status, headers=extra, media_type=PROBLEM_MEDIA_TYPE
    )


def error_response(error: BaseException, *, abaco: bool = False) -> JSONResponse:
    """The problem document for one of our errors."""
    kind = kind_of(error)
    if kind is INTERNAL:
        return problem_response(
            kind, "the gateway failed unexpectedly; the failure is logged", abaco=abaco
        )
    problems = getattr(error, "problems", None) if isinstance(error, InvalidInput) else None
    errors = [str(line) for line in problems] if isinstance(problems, list) else None
    detail = str(error)
    if isinstance(error, TransientError):
        detail += f"; nothing was accepted: send the request again in {RETRY_AFTER_SECONDS} seconds"
    return problem_response(kind, detail, errors=errors, abaco=abaco)


def is_abaco_path(path: str) -> bool:
    """Whether ``path`` is on Abaco's routes, whose refusals are Abaco envelopes too."""
    return path == ABACO_PREFIX or path.startswith(ABACO_PREFIX + "/")


def documented_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem documents."""
    return {
        status: {
            "description": DOCUMENTED_STATUSES[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def validation_lines(error: RequestValidationError) -> list[str]:
    """``query parameter 'limit': Input should be ...`` for each pydantic error."""
    lines = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        where, rest = (location[0], location[1:]) if location else ("request", [])
        label = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(
            where, where
        )
        name = ".".join(rest)
        value = f" (got {item['input']!r:.60})" if "input" in item and rest else ""
        lines.append(f"{label} {name!r}: {item.get('msg', 'invalid')}{value}")
    return lines


async def _our_error(request: Request, error: Exception) -> JSONResponse:
    return error_response(error, abaco=is_abaco_path(request.url.path))


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    lines = validation_lines(error)
    kind = ProblemKind(422, "invalid-input", "Invalid input")
    return problem_response(
        kind,
        "; ".join(lines) or "the request is not valid",
        errors=lines,
        abaco=is_abaco_path(request.url.path),
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    phrase = HTTPStatus(error.status_code).phrase
    slug = phrase.lower().replace(" ", "-").replace("'", "")
    detail = error.detail if isinstance(error.detail, str) else phrase
    if error.status_code == 404 and detail == phrase:
        detail = "no such route; see /docs for the routes this gateway serves"
    return problem_response(
        ProblemKind(error.status_code, slug, phrase),
        detail,
        headers=error.headers,
        abaco=is_abaco_path(request.url.path),
    )


async def _client_disconnect(_request: Request, _error: Exception) -> JSONResponse:
    """A body cut short is the client's doing, not a defect: no 500, no traceback."""
    return error_response(IncompleteBody())


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(PipelineJobsError, _our_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
