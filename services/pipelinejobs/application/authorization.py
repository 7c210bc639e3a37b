"""Who may change a document: its update token, or a current admin token.

One place for every actor, so the rules (constant-time checks, the admin token passing
wherever an update token would, the wording of refusals) cannot drift apart. A refusal never
contains the expected token, only what was wrong with the one sent.
"""

from __future__ import annotations

import time
from enum import StrEnum

from pipelinejobs.actors.base import ActorContext
from pipelinejobs.errors import Unauthorized


class Authority(StrEnum):
    """Which kind of token authorized a change."""

    UPDATE = "update token"
    ADMIN = "admin token"


def authorize(ctx: ActorContext, uuid: str, token: object, *, noun: str) -> Authority:
    """The document's update token or a current admin token, else ``Unauthorized``.

    The message never contains the expected token, only what was wrong with the one sent.
    """
    presented = token if isinstance(token, str) else None
    if ctx.update_tokens.verify(uuid, presented):
        return Authority.UPDATE
    if ctx.admin_tokens.verify(presented, time.time()):
        return Authority.ADMIN
    problem = "is missing" if not presented else "is not valid"
    raise Unauthorized(
        f"token for {noun} {uuid} {problem}; send the {noun}'s update token (field or URL "
        "parameter 'token') or a current admin token"
    )


def require_admin(ctx: ActorContext, uuid: str, token: object, *, event: str) -> None:
    """A current admin token, else ``Unauthorized`` saying an update token is not enough."""
    presented = token if isinstance(token, str) else None
    if ctx.admin_tokens.verify(presented, time.time()):
        return
    if ctx.update_tokens.verify(uuid, presented):
        problem = "was sent with the job's update token, which is not enough"
    elif presented:
        problem = "was sent with a token that is not valid or has expired"
    else:
        problem = "was sent without a token"
    raise Unauthorized(
        f"event {event!r} needs an admin token and {problem}; get a fresh one with "
        f"`pipelinejobs admin-token` (valid for {ctx.admin_tokens.lifetime} to "
        f"{2 * ctx.admin_tokens.lifetime} seconds)"
    )
