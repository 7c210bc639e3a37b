"""``POST /actors/v2/{actor}/messages``: the documentation's way to reach every actor.

The body (JSON or protobuf) and the URL parameters are passed on as they came: the URL
parameters become the message context, and each actor merges them with the body as the
documentation describes. Before publishing, the actor's synchronous ``check`` (when it has one)
refuses what it would refuse anyway, so the sender gets a 422 now instead of an ERROR later.

A message without ``X-Message-Id`` whose body is a compute job record (job ``id``, ``status``,
``lastUpdated``) gets that record's natural key instead (:mod:`pipelinejobs.domain.callback_keys`):
a compute service's retry of a notification whose reply it never got is then the same message.

A message sent with a nonce that is not accepted (refused, or 503 because the bus is down) gives
its nonce use back: ``maxUses`` counts accepted messages, and a retry the 503 invites can succeed.

Every webhook takes this route, so it costs as little as the framework allows:

- it reads its path, headers and URL parameters from the request itself instead of through
  FastAPI's dependencies (solving them, seven per request with the security schemes, cost as
  much as the message's own checks). The OpenAPI document still describes them
  (``openapi_extra``), as FastAPI wrote it; the order of refusals is unchanged: an unknown actor
  (404), then the credentials (401/403), then the message;
- :class:`MessageRoute`, a middleware inside the access log, hands ``POST`` requests on this path
  to :func:`send_message` directly, past FastAPI's exception middleware, router and request
  handler (another fifth of a webhook's time in the gateway), with the application's own
  exception handlers for its refusals and the same JSON reply. The route stays declared for the
  OpenAPI document; any other method on the path still reaches the router (405).
"""

from __future__ import annotations

import inspect
import re
import uuid as uuidlib
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pipelinejobs.actors.base import Message
from pipelinejobs.application.submission import submit
from pipelinejobs.domain.callback_keys import callback_key
from pipelinejobs.domain.derived_ids import sender_message_id
from pipelinejobs.domain.nonces import Level
from pipelinejobs.errors import InvalidInput, PipelineJobsError
from pipelinejobs.gateway.auth import (
    ACTOR_DESCRIPTION,
    ACTOR_SECURITY,
    NONCE_PARAMETER,
    Principal,
    actor_caller,
)
from pipelinejobs.gateway.bodies import incoming_message, read_body
from pipelinejobs.gateway.models import MessageReply, MessageResult
from pipelinejobs.gateway.problems import documented_problems
from pipelinejobs.gateway.state import Gateway, gateway_of

router = APIRouter(tags=["actors"])

MESSAGE_PARAMETER = "message"
MESSAGE_TYPE_HEADER = "x-message-type"
MESSAGE_ID_HEADER = "x-message-id"
MAX_MESSAGE_ID_LENGTH = 200
MESSAGES_PATH = "/actors/v2/{actor}/messages"
_MESSAGES_PATH = re.compile(r"/actors/v2/(?P<actor>[^/]+)/messages")
"""The route's path as Starlette matches it (``{actor}``: one path segment)."""


def _parameter(name: str, where: str, description: str, title: str) -> dict[str, Any]:
    """An OpenAPI parameter as FastAPI writes it: the path's required, the others optional."""
    required = where == "path"
    schema = {"type": "string"} if required else {"anyOf": [{"type": "string"}, {"type": "null"}]}
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": {**schema, "description": description, "title": title},
        "description": description,
    }


_DOCUMENTED = {
    "security": ACTOR_SECURITY,
    "parameters": [
        _parameter("actor", "path", ACTOR_DESCRIPTION, "Actor"),
        _parameter(
            MESSAGE_PARAMETER, "query", "the message as JSON text, when there is no body", "Message"
        ),
        _parameter(
            MESSAGE_TYPE_HEADER,
            "header",
            "message type, e.g. JobEvent (needed for protobuf)",
            "X-Message-Type",
        ),
        _parameter(
            MESSAGE_ID_HEADER,
            "header",
            "your id for the message; a retry with it is one message",
            "X-Message-Id",
        ),
    ],
    "requestBody": {
        "required": False,
        "description": "The message: a JSON object (also when curl labels it as a form), or "
        "protobuf with X-Message-Type. May be empty when the URL parameters carry it.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


@router.post(
    MESSAGES_PATH,
    response_model=MessageReply,
    response_model_by_alias=True,
    summary="Send a message to an actor",
    description="URL parameters (except x-nonce and message) become the message context. "
    "Authenticate with a Bearer token, or a nonce of level EXECUTE for this actor.",
    responses=documented_problems(401, 403, 404, 409, 413, 415, 422, 503),
    openapi_extra=_DOCUMENTED,
)
async def send_message(request: Request) -> MessageReply:
    gateway = gateway_of(request)
    alias = gateway.directory.resolve(request.path_params["actor"])
    principal = await actor_caller(request, alias, Level.EXECUTE)
    try:
        execution_id, text = await _accept(
            request,
            gateway,
            alias,
            principal,
            request.query_params.get(MESSAGE_PARAMETER),
            request.headers.get(MESSAGE_TYPE_HEADER),
            request.headers.get(MESSAGE_ID_HEADER),
        )
    except PipelineJobsError:
        # Not accepted (refused, or 503): the nonce's use is given back, so a retry can use it.
        await gateway.authenticator.give_back(principal, alias)
        raise
    links = {
        "self": f"{gateway.public_url}/actors/v2/{alias}/executions/{execution_id}",
        "owner": f"{gateway.public_url}/profiles/v2/{principal.user}",
    }
    return MessageReply(result=MessageResult(executionId=execution_id, msg=text, _links=links))


class MessageRoute:
    """ASGI middleware: ``POST /actors/v2/{actor}/messages`` served by :func:`send_message`
    without FastAPI's routing layers (see the module docstring). Add it inside the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _messages_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = route.groupdict()
        request = Request(scope, receive, send)
        try:
            reply = await send_message(request)
        except Exception as error:
            handler = _exception_handler(request, error)
            if handler is None:
                raise  # the access log answers 500 and logs it, as for any route
            response: Response = await handler(request, error)
        else:
            response = Response(reply.model_dump_json(by_alias=True), media_type="application/json")
        await response(scope, receive, send)


def _messages_route(scope: Scope) -> re.Match[str] | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]  # the path below the application's mount, as Starlette's
    return _MESSAGES_PATH.fullmatch(path)


def _exception_handler(request: Request, error: Exception) -> Any:
    """The handler the application registered for ``error``'s class or nearest base, if any
    (as Starlette's exception middleware looks it up)."""
    handlers = request.app.exception_handlers
    return next((handlers[kind] for kind in type(error).__mro__ if kind in handlers), None)


async def _accept(
    request: Request,
    gateway: Gateway,
    alias: str,
    principal: Principal,
    message: str | None,
    message_type: str | None,
    given_message_id: str | None,
) -> tuple[str, str]:
    """Read, check and submit the message; its execution id and the message as text."""
    _message_id(given_message_id, principal.identity)  # a bad header is refused before reading
    body = await read_body(request, gateway.limits.max_bytes)
    incoming = incoming_message(
        body,
        request.headers.get("content-type"),
        message_type_name=message_type,
        message_parameter=message,
        limits=gateway.limits,
    )
    context = {
        key: value
        for key, value in request.query_params.items()
        if key not in (NONCE_PARAMETER, MESSAGE_PARAMETER)
    }
    if given_message_id is None:
        given_message_id = callback_key(alias, context, incoming.document)
    message_id = _message_id(given_message_id, principal.identity)
    await _check(
        gateway,
        alias,
        Message(
            document=incoming.document,
            context=context,
            message_id=message_id,
            message_type=incoming.message_type,
            sender=principal.identity,
        ),
    )
    execution_id = await submit(
        gateway.system.store,
        gateway.system.bus,
        alias,
        body=incoming.body,
        content_type=incoming.content_type,
        message_type=incoming.message_type,
        context=context,
        sender=principal.identity,
        message_id=message_id,
        document=incoming.document,
    )
    return execution_id, incoming.text


def _message_id(given: str | None, sender: str) -> str:
    """A new id, or the caller's own scoped to the caller: a retry with the same header is one
    message, and no sender can collide with (and so suppress) another sender's message."""
    if given is None:
        return str(uuidlib.uuid4())
    if not 0 < len(given) <= MAX_MESSAGE_ID_LENGTH or not given.isprintable():
        raise InvalidInput(
            f"header X-Message-Id must be 1 to {MAX_MESSAGE_ID_LENGTH} printable characters"
        )
    return sender_message_id(sender, given)


async def _check(gateway: Gateway, alias: str, message: Message) -> None:
    """Run the actor's synchronous validation, when it has one and runs in this process."""
    actor = gateway.directory.actor(alias)
    check: Any = getattr(actor, "check", None)
    if check is None:
        return
    outcome = check(message)
    if inspect.isawaitable(outcome):
        await outcome
