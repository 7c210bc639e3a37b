"""The messages as typed, immutable objects: one model per document type.

A model holds a document that already passed its JSON Schema (the codec validates first), so
the models carry the shape, not every rule: enumerations, patterns and lengths stay in
``schemas/``. Field names are the JSON keys (``__options`` and ``_links`` through aliases, the
compute service's camelCase keys as snake_case attributes with aliases). Free-form objects stay
plain ``dict``s of JSON values.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

JsonObject = dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    def to_document(self) -> dict[str, Any]:
        """The JSON document, keys as the schema names them; optional fields that are unset
        (None) are left out, since the schemas never allow null for them."""
        fields = type(self).model_fields
        unset = {
            name
            for name, field in fields.items()
            if not field.is_required() and getattr(self, name) is None
        }
        return self.model_dump(by_alias=True, exclude=unset)


class MessageModel(_Model):
    """Base of every message; ``message_type`` names it on the bus and in protobuf."""

    message_type: ClassVar[str]
    schema_name: ClassVar[str]
    proto_name: ClassVar[str]


class PipelineCreate(MessageModel):
    """Register a pipeline (pipelines-manager); its UUID derives from ``components`` only."""

    message_type: ClassVar[str] = "PipelineCreate"
    schema_name: ClassVar[str] = "pipeline_manager_create"
    proto_name: ClassVar[str] = "pipelinejobs.v1.PipelineCreate"

    name: str
    description: str | None = None
    components: list[JsonObject]
    collections_levels: list[str] | None = None
    processing_levels: list[str] | None = None
    pipeline_type: str | list[str] | None = None
    accepts: list[str] | None = None
    produces: list[str] | None = None
    options: JsonObject | None = Field(default=None, alias="__options")


class PipelineUpdate(MessageModel):
    """Change a pipeline's metadata (never its components), with its update token."""

    message_type: ClassVar[str] = "PipelineUpdate"
    schema_name: ClassVar[str] = "pipeline_manager_update"
    proto_name: ClassVar[str] = "pipelinejobs.v1.PipelineUpdate"

    uuid: str
    action: Literal["update"] = "update"
    body: JsonObject
    token: str
    options: JsonObject | None = Field(default=None, alias="__options")


class PipelineRetire(MessageModel):
    """Retire a pipeline from active service; pipelines are never deleted."""

    message_type: ClassVar[str] = "PipelineRetire"
    schema_name: ClassVar[str] = "pipeline_manager_retire"
    proto_name: ClassVar[str] = "pipelinejobs.v1.PipelineRetire"

    uuid: str
    action: Literal["retire"] = "retire"
    token: str
    options: JsonObject | None = Field(default=None, alias="__options")


class ArchivePattern(_Model):
    """Files under a job's archive path to index at one processing level."""

    level: str
    patterns: list[str]


Linkage = str | list[str]


class JobCreate(MessageModel):
    """Create a job for a pipeline, its linked metadata and its data (sent by agents)."""

    message_type: ClassVar[str] = "JobCreate"
    schema_name: ClassVar[str] = "pipelinejob_create"
    proto_name: ClassVar[str] = "pipelinejobs.v1.JobCreate"

    action: Literal["create"] = "create"
    pipeline_uuid: str
    data: JsonObject | None = None
    experiment_design_id: Linkage | None = None
    experiment_id: Linkage | None = None
    sample_id: Linkage | None = None
    measurement_id: Linkage | None = None
    archive_path: str | None = None
    archive_system: str | None = None
    instanced: bool | None = None
    archive_patterns: list[ArchivePattern] | None = None
    session: str | None = None
    agent: str | None = None
    task: str | None = None


class JobEvent(MessageModel):
    """A lifecycle event for one job (jobs-manager)."""

    message_type: ClassVar[str] = "JobEvent"
    schema_name: ClassVar[str] = "pipelinejob_manager_event"
    proto_name: ClassVar[str] = "pipelinejobs.v1.JobEvent"

    uuid: str
    name: str
    data: JsonObject | None = None
    token: str | None = None


class AgaveJobCallback(MessageModel):
    """A job status POST from the compute service.

    Unlike the other messages it keeps unknown properties: the schema is open because the
    service posts its whole job record, which the jobs-manager stores with a ``run`` event.
    """

    model_config = ConfigDict(extra="allow")

    message_type: ClassVar[str] = "AgaveJobCallback"
    schema_name: ClassVar[str] = "agave_job_callback"
    proto_name: ClassVar[str] = "pipelinejobs.v1.AgaveJobCallback"

    owner: str
    app_id: str = Field(alias="appId")
    execution_system: str = Field(alias="executionSystem")
    archive_path: str = Field(alias="archivePath")
    archive_system: str = Field(alias="archiveSystem")
    status: str
    inputs: Any
    parameters: Any
    links: Any = Field(alias="_links")


class IndexRequest(MessageModel):
    """Index a finished job's archive path at a processing level (jobs-indexer)."""

    message_type: ClassVar[str] = "IndexRequest"
    schema_name: ClassVar[str] = "pipelinejob_index"
    proto_name: ClassVar[str] = "pipelinejobs.v1.IndexRequest"

    uuid: str
    name: Literal["index"] = "index"
    filters: list[str] | None = None
    level: str | None = None
    token: str | None = None


class IndexedEvent(MessageModel):
    """Indexing of a job is complete (the indexer sends it to itself)."""

    message_type: ClassVar[str] = "IndexedEvent"
    schema_name: ClassVar[str] = "pipelinejob_indexed"
    proto_name: ClassVar[str] = "pipelinejobs.v1.IndexedEvent"

    uuid: str
    name: Literal["indexed"] = "indexed"
    token: str | None = None


class AgavePipelineJob(MessageModel):
    """Launch a compute job as a managed PipelineJob (agave-proxy)."""

    message_type: ClassVar[str] = "AgavePipelineJob"
    schema_name: ClassVar[str] = "agave_pipelinejob"
    proto_name: ClassVar[str] = "pipelinejobs.v1.AgavePipelineJob"

    parameters: JsonObject
    job_definition: JsonObject
    archive_path: str | None = None
    instanced: bool | None = None
    data: JsonObject | None = None
    index_patterns: list[str] | None = None
    processing_level: str | None = None


MESSAGE_MODELS: tuple[type[MessageModel], ...] = (
    PipelineCreate,
    PipelineUpdate,
    PipelineRetire,
    JobCreate,
    JobEvent,
    AgaveJobCallback,
    IndexRequest,
    IndexedEvent,
    AgavePipelineJob,
)
