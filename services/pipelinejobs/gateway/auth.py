"""Who is calling: a Bearer JWT on every route, or a nonce on an actor's routes.

Rules (also in the OpenAPI description):

- ``Authorization: Bearer <jwt>`` authenticates a user (``user:<name>`` as message sender).
  When the header is present it decides alone; a nonce beside it is not used.
- ``x-nonce=<id>`` (URL parameter, or the ``X-Nonce`` header) authenticates as the nonce's
  owner (``nonce:<owner>`` as sender) on the routes of the nonce's actor only, and one use is
  counted per request, as in Abaco, except that a message the gateway does not accept (refused,
  or 503 because the bus is down) gives its use back: ``maxUses`` bounds the accepted messages,
  and the retry a 503 invites is not refused for want of uses. A nonce never grants admin.
- Admins: a JWT whose ``roles`` contain ``admin``, or a user named in ``admin_users``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from pipelinejobs.domain.executions import utc_now
from pipelinejobs.domain.nonces import Level
from pipelinejobs.domain.senders import UNOWNED, nonce_sender, user_sender
from pipelinejobs.errors import NonceRejected, PipelineJobsError, Unauthorized
from pipelinejobs.gateway.nonces import plausible_nonce_id
from pipelinejobs.gateway.state import gateway_of
from pipelinejobs.gateway.tokens import ADMIN_ROLE, TokenVerifier
from pipelinejobs.logs import process_logger
from pipelinejobs.store.port import Store

NONCE_PARAMETER = "x-nonce"
NO_CREDENTIALS = (
    "no credentials: send the header 'Authorization: Bearer <token>' (get a token with "
    "`pipelinejobs token issue --user NAME`)"
)

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="Bearer",
    description="A JWT: HS256 from `pipelinejobs token issue`, or RS256 from the OIDC provider",
)
nonce_query = APIKeyQuery(
    name=NONCE_PARAMETER,
    auto_error=False,
    scheme_name="Nonce",
    description="An actor's nonce (actor routes only), e.g. from `pipelinejobs nonce create`",
)
nonce_header = APIKeyHeader(
    name="X-Nonce", auto_error=False, scheme_name="NonceHeader", description="As x-nonce"
)
ACTOR_SECURITY: list[dict[str, list[str]]] = [
    {scheme.scheme_name: []} for scheme in (bearer_scheme, nonce_query, nonce_header)
]
"""The OpenAPI ``security`` of an actor's routes: a Bearer token or a nonce, either way."""
ACTOR_DESCRIPTION = "actor alias (e.g. jobs-manager) or actor id"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user: str
    via: Literal["jwt", "nonce"]
    admin: bool = False
    nonce_id: str | None = None

    @property
    def identity(self) -> str:
        """The sender recorded on the caller's executions."""
        return user_sender(self.user) if self.via == "jwt" else nonce_sender(self.user)

    @property
    def senders(self) -> tuple[str, str]:
        """The senders that are this person: by Bearer token, or by one of their nonces."""
        return (user_sender(self.user), nonce_sender(self.user))

    def may_read(self, sender: object) -> bool:
        """Admins read every execution; others those the same person sent, by token or nonce."""
        return self.admin or sender in self.senders


class Authenticator:
    """Turns credentials into a :class:`Principal`, or refuses with a reason."""

    def __init__(self, verifier: TokenVerifier, store: Store, admin_users: frozenset[str]):
        self._verifier = verifier
        self._store = store
        self._admin_users = admin_users
        self._log = process_logger(component="gateway")

    async def bearer(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized(NO_CREDENTIALS)
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "the Authorization header must be 'Bearer <token>'; other schemes are not accepted"
            )
        claims = await self._verifier.verify(token.strip())
        admin = ADMIN_ROLE in claims.roles or claims.user in self._admin_users
        return Principal(user=claims.user, via="jwt", admin=admin)

    async def nonce(self, nonce_id: str, alias: str, level: Level) -> Principal:
        """Redeem one use of the nonce for ``alias`` at ``level``."""
        if not plausible_nonce_id(nonce_id):
            raise Unauthorized("the x-nonce value is not a nonce id; ask its owner for a new one")
        try:
            nonce = await self._store.redeem_nonce(
                nonce_id, actor=alias, level=int(level), now=utc_now()
            )
        except NonceRejected:
            if await self._store.get_nonce(nonce_id) is None:
                raise Unauthorized(
                    "the x-nonce is not known (never created, or deleted); ask the actor's "
                    "owner for a new one, or send a Bearer token"
                ) from None
            raise
        owner = nonce.get("owner")
        user = owner if isinstance(owner, str) and owner else UNOWNED
        return Principal(user=user, via="nonce", nonce_id=nonce_id)

    async def give_back(self, principal: Principal, alias: str) -> None:
        """Return the nonce use a request took, when its message was not accepted.

        Best effort: the request's own error is what the caller must see, so a failure here
        (the store being down, most likely the same outage) is logged, never raised.
        """
        if principal.nonce_id is None:
            return
        try:
            await self._store.refund_nonce(principal.nonce_id, actor=alias)
        except PipelineJobsError as exc:
            self._log.warning("nonce use not given back", actor=alias, reason=type(exc).__name__)


async def actor_alias(
    request: Request, actor: Annotated[str, Path(description=ACTOR_DESCRIPTION)]
) -> str:
    """The alias named by the URL's ``{actor}``; 404 naming the known actors otherwise."""
    return gateway_of(request).directory.resolve(actor)


async def bearer_principal(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    """Bearer only (read API, nonce management)."""
    authorization = request.headers.get("authorization")
    if authorization is None and _nonce_of(request):
        raise Unauthorized(
            "a nonce authorizes an actor's messages and executions only; send the header "
            "'Authorization: Bearer <token>' here"
        )
    return await gateway_of(request).authenticator.bearer(authorization)


def actor_principal(level: Level) -> Callable[..., Awaitable[Principal]]:
    """Dependency: a Bearer token, or a nonce for the URL's actor at ``level`` or above."""

    async def dependency(
        request: Request,
        alias: Annotated[str, Depends(actor_alias)],
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        _nonce: Annotated[str | None, Security(nonce_query)],
        _nonce_header: Annotated[str | None, Security(nonce_header)],
    ) -> Principal:
        return await actor_caller(request, alias, level)

    return dependency


async def actor_caller(request: Request, alias: str, level: Level) -> Principal:
    """The caller of one of ``alias``'s routes: by Bearer token, or by a nonce for ``alias`` at
    ``level`` or above (:func:`actor_principal` without FastAPI's dependency machinery, for the
    message route, which every webhook takes)."""
    authenticator = gateway_of(request).authenticator
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return await authenticator.bearer(authorization)
    nonce = _nonce_of(request)
    if nonce:
        return await authenticator.nonce(nonce, alias, level)
    raise Unauthorized(NO_CREDENTIALS + f", or the URL parameter {NONCE_PARAMETER}=<nonce>")


def _nonce_of(request: Request) -> str | None:
    return request.query_params.get(NONCE_PARAMETER) or request.headers.get("x-nonce") or None
