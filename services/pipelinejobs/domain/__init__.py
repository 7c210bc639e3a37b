"""Pure domain rules: identifiers, canonical JSON, the job state machine, tokens, archive paths.

Nothing here performs I/O, reads the clock or draws randomness: time and random sources are
passed in, so every rule is deterministic and unit-tested without fixtures.

``TransitionNotAllowed`` lives in ``pipelinejobs.errors`` with the rest of the error tree and is
re-exported here, beside ``transition`` which raises it.
"""

from pipelinejobs.domain.archive import (
    ARCHIVE_ROOT,
    archive_hash_of_data,
    archive_hash_of_linkage,
    archive_path,
    hashid,
    instanced_directory,
    normalize_archive_path,
    session_name,
)
from pipelinejobs.domain.canonical import canonical_json
from pipelinejobs.domain.compute_status import STATUS_EVENTS, event_for_status
from pipelinejobs.domain.identifiers import (
    DEFAULT_DOMAIN,
    UUIDType,
    as_uuid_type,
    file_uuid,
    job_uuid,
    linkage,
    namespace,
    normalize_uuid,
    pipeline_uuid,
    random_typed_uuid,
    require_uuid,
    typed_uuid,
    uuid_type,
)
from pipelinejobs.domain.states import (
    ADMIN_EVENTS,
    AGENT_ONLY_EVENTS,
    INITIAL_STATE,
    JobEvent,
    JobState,
    allowed_events,
    parse_event,
    parse_state,
    transition,
)
from pipelinejobs.domain.tokens import TOKEN_LENGTH, AdminTokens, UpdateTokens
from pipelinejobs.errors import TransitionNotAllowed

__all__ = [
    "ADMIN_EVENTS",
    "AGENT_ONLY_EVENTS",
    "ARCHIVE_ROOT",
    "DEFAULT_DOMAIN",
    "INITIAL_STATE",
    "STATUS_EVENTS",
    "TOKEN_LENGTH",
    "AdminTokens",
    "JobEvent",
    "JobState",
    "TransitionNotAllowed",
    "UUIDType",
    "UpdateTokens",
    "allowed_events",
    "archive_hash_of_data",
    "archive_hash_of_linkage",
    "archive_path",
    "as_uuid_type",
    "canonical_json",
    "event_for_status",
    "file_uuid",
    "hashid",
    "instanced_directory",
    "job_uuid",
    "linkage",
    "namespace",
    "normalize_archive_path",
    "normalize_uuid",
    "parse_event",
    "parse_state",
    "pipeline_uuid",
    "random_typed_uuid",
    "require_uuid",
    "session_name",
    "transition",
    "typed_uuid",
    "uuid_type",
]
