"""Messages: JSON Schemas, size limits, typed models, and the JSON and protobuf codecs."""

from pipelinejobs.messages.codec import (
    MESSAGE_TYPES,
    MessageType,
    decode,
    decode_document,
    encode_json,
    encode_protobuf,
    from_document,
    message_type,
    to_document,
)
from pipelinejobs.messages.limits import DEFAULT_LIMITS, Limits, check_document, parse_json
from pipelinejobs.messages.models import (
    AgaveJobCallback,
    AgavePipelineJob,
    ArchivePattern,
    IndexedEvent,
    IndexRequest,
    JobCreate,
    JobEvent,
    MessageModel,
    PipelineCreate,
    PipelineRetire,
    PipelineUpdate,
)
from pipelinejobs.messages.schemas import SchemaRegistry, registry

__all__ = [
    "DEFAULT_LIMITS",
    "MESSAGE_TYPES",
    "AgaveJobCallback",
    "AgavePipelineJob",
    "ArchivePattern",
    "IndexRequest",
    "IndexedEvent",
    "JobCreate",
    "JobEvent",
    "Limits",
    "MessageModel",
    "MessageType",
    "PipelineCreate",
    "PipelineRetire",
    "PipelineUpdate",
    "SchemaRegistry",
    "check_document",
    "decode",
    "decode_document",
    "encode_json",
    "encode_protobuf",
    "from_document",
    "message_type",
    "parse_json",
    "registry",
    "to_document",
]
