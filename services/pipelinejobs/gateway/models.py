"""Request and reply shapes of the gateway (they make the OpenAPI document).

Actor routes answer in Abaco's envelope (``status``, ``message``, ``version``, ``result``) so
scripts written against Abaco read them unchanged; the read API answers with plain documents.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from pipelinejobs import __version__
from pipelinejobs.domain.nonces import UNLIMITED
from pipelinejobs.gateway.nonces import MAX_USES


class AbacoReply(BaseModel):
    status: Literal["success"] = "success"
    message: str = "The request was successful"
    version: str = __version__


class MessageResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    executionId: str = Field(description="poll it at .../executions/{executionId}")  # noqa: N815
    msg: str = Field(description="the message as received")
    links: dict[str, str] = Field(alias="_links")


class MessageReply(AbacoReply):
    result: MessageResult


class ExecutionView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    actorId: str  # noqa: N815
    status: Literal["SUBMITTED", "RUNNING", "COMPLETE", "ERROR"]
    messageId: str  # noqa: N815
    messageType: str | None = None  # noqa: N815
    sender: str | None = None
    submitted: str | None = None
    started: str | None = None
    finished: str | None = None
    attempts: int = 0
    result: dict[str, Any] | None = Field(default=None, description="the actor's reply")
    error: str | None = Field(default=None, description="why the execution failed")
    links: dict[str, str] = Field(alias="_links")


class ExecutionReply(AbacoReply):
    result: ExecutionView


class LogsView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    logs: str = Field(description="the execution's log lines, joined by newlines")
    links: dict[str, str] = Field(alias="_links")


class LogsReply(AbacoReply):
    result: LogsView


NonceLevel = Literal["NONE", "READ", "EXECUTE", "UPDATE"]
_MAX_USES_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "const": UNLIMITED},
        {"type": "integer", "minimum": 1, "maximum": MAX_USES},
    ]
}
"""What the validator accepts, said exactly: -1, or 1 to MAX_USES (0 would allow no use)."""


class NonceRequest(BaseModel):
    """What ``POST /actors/v2/{actor}/nonces`` accepts (Abaco's field names)."""

    model_config = ConfigDict(extra="forbid")

    maxUses: Annotated[int, WithJsonSchema(_MAX_USES_SCHEMA)] = Field(  # noqa: N815
        default=-1,
        ge=-1,
        le=MAX_USES,
        strict=True,
        description=f"uses allowed: -1 for unlimited, or 1 to {MAX_USES}",
    )
    level: NonceLevel = Field(
        default="EXECUTE", description="EXECUTE to send messages, READ to read executions"
    )
    description: str = Field(default="", max_length=1000)
    expiresIn: int | None = Field(  # noqa: N815
        default=None,
        ge=1,
        le=10 * 365 * 24 * 3600,
        strict=True,
        description="seconds until it expires",
    )

    @field_validator("maxUses")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("maxUses 0 would allow no use; send -1 (unlimited) or 1 and more")
        return value


class NonceView(BaseModel):
    id: str = Field(description="the value for x-nonce")
    actorId: str  # noqa: N815
    level: NonceLevel
    maxUses: int  # noqa: N815
    remainingUses: int  # noqa: N815
    currentUses: int  # noqa: N815
    createTime: str | None = None  # noqa: N815
    lastUseTime: str | None = None  # noqa: N815
    expiresAt: str | None = None  # noqa: N815
    owner: str | None = None
    description: str = ""


class NonceReply(AbacoReply):
    result: NonceView


class NonceListReply(AbacoReply):
    result: list[NonceView]


class DeletedReply(AbacoReply):
    result: None = None


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int | None = Field(default=None, description="all matches (absent for files)")
    limit: int
    offset: int


class EventPage(BaseModel):
    """A page of an event log: a stream's history (cursor: versions) or the global feed
    (cursor: positions). Pass ``next`` as ``after`` to read on."""

    items: list[dict[str, Any]]
    after: int
    limit: int
    next: int | None = Field(
        description="the ``after`` of the next page; for a stream null when this page is its "
        "end; for the feed always set (poll it to follow new events)"
    )


class Health(BaseModel):
    status: Literal["ok", "ready"]
    checks: dict[str, str] = Field(default_factory=dict)


class ActorView(BaseModel):
    """An actor as Abaco describes one (the fields Abaco clients read)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(description="the actor id (its configured Abaco id, else its alias)")
    name: str = Field(description="the actor's alias")
    description: str
    owner: str | None = None
    status: Literal["READY"] = Field(description="READY: it accepts messages")
    statusMessage: str = ""  # noqa: N815
    type: Literal["none"] = "none"
    stateless: bool = True
    links: dict[str, str] = Field(alias="_links")


class ActorReply(AbacoReply):
    result: ActorView


class ActorListReply(AbacoReply):
    result: list[ActorView]


class ExecutionSummary(BaseModel):
    id: str
    status: Literal["SUBMITTED", "RUNNING", "COMPLETE", "ERROR"]
    messageReceivedTime: str | None = None  # noqa: N815
    startTime: str | None = None  # noqa: N815
    finishTime: str | None = None  # noqa: N815


class ExecutionsView(BaseModel):
    actorId: str  # noqa: N815
    ids: list[str] = Field(description="the caller's execution ids, newest first")
    executions: list[ExecutionSummary] = Field(description="the same, with their status")
    limit: int
    offset: int


class ExecutionsReply(AbacoReply):
    result: ExecutionsView
