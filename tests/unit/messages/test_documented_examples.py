"""Every message the documentation shows is accepted, in JSON and in protobuf."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from message_documents import decode, protobuf
from pipelinejobs.messages import registry

TACOBOT_PIPELINE: dict[str, Any] = {
    "name": "Tacobot 9001",
    "description": "Creates even better breakfast tacos out of silicon, ozone, and shredded GPUs",
    "components": [
        {"id": "e1LqaqMyqq4xB", "opts": {"cheese": True, "salsa": True, "eggs": False}},
        {"id": "bbq-brisket-0.5.0", "parameters": {"smoke": True, "quantity": 4}},
    ],
    "processing_levels": ["1"],
    "accepts": ["CSV"],
    "produces": ["PNG"],
}
PIPELINE_UPDATE = {
    "uuid": "1064aaf1-459c-5e42-820d-b822aa4b3990",
    "action": "update",
    "body": TACOBOT_PIPELINE,
    "token": "0df45d5e9e0f31e2",
}
FINISH_EVENT = {
    "uuid": "1073f4ff-c2b9-5190-bd9a-e6a406d9796a",
    "name": "finish",
    "token": "0dc73dc3ff39b49a",
}
INDEX_REQUEST = {
    "uuid": "1079f67e-0ef6-52fe-b4e9-d77875573860",
    "name": "index",
    "filters": ["sample%5C.uw_biofab%5C.141715", "sample-uw_biofab-141715"],
    "level": "2",
    "token": "0dc73dc3ff39b49a",
}
INDEXED_EVENT = {
    "uuid": "1079f67e-0ef6-52fe-b4e9-d77875573860",
    "name": "indexed",
    "token": "0dc73dc3ff39b49a",
}
TACOBOT_JOB_DEFINITION = {
    "appId": "tacobot9000-0.1.0u1",
    "name": "TACObot job",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "parameters": {"salsa": True, "avocado": False, "cheese": True},
    "maxRunTime": "01:00:00",
}
AGAVE_LAUNCH = {
    "parameters": {"sample_id": "sample.tacc.abcde"},
    "job_definition": TACOBOT_JOB_DEFINITION,
}
ARCHIVE_PATH = (
    "/products/v2/103f877a7ab857d182807b75af4eab6e/106bd127e2d257acb9be11ed06042e68/"
    "eligible-awk-20181127T173243Z"
)
AGAVE_CALLBACK = {  # the compute service's job record, as in the documented job history
    "id": "7381691026605150696-242ac11b-0001-007",
    "name": "TACObot job",
    "owner": "tacobot",
    "appId": "tacobot9000-0.1.0u1",
    "executionSystem": "hpc-tacc-stampede2",
    "batchQueue": "normal",
    "nodeCount": 1,
    "processorsPerNode": 1,
    "memoryPerNode": 1,
    "maxRunTime": "01:00:00",
    "archive": True,
    "archivePath": ARCHIVE_PATH,
    "archiveSystem": "data-tacc-cloud",
    "outputPath": "tacobot/job-7381691026605150696-242ac11b-0001-007-TACObot-job",
    "status": "RUNNING",
    "created": "2018-12-07T18:08:37.000-06:00",
    "submitTime": "2018-12-07T18:09:40.000-06:00",
    "startTime": None,
    "endTime": None,
    "lastUpdated": "2018-12-07T18:09:40.000-06:00",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "parameters": {"avocado": False, "cheese": True, "salsa": True},
    "_links": {
        "self": {"href": "https://api.tacc.cloud/jobs/v2/7381691026605150696-242ac11b-0001-007"},
        "app": {"href": "https://api.tacc.cloud/apps/v2/tacobot9000-0.1.0u1"},
    },
}
JOB_CREATE = {  # what an agent sends for the documented job (not itself in the documentation)
    "action": "create",
    "pipeline_uuid": "106bd127-e2d2-57ac-b9be-11ed06042e68",
    "data": TACOBOT_JOB_DEFINITION,
    "sample_id": "sample.tacc.abcde",
    "archive_system": "data-sd2e-community",
    "instanced": True,
    "archive_patterns": [{"level": "1", "patterns": ["output.txt$"]}],
    "session": "casual-bass",
    "agent": "https://api.tacc.cloud/actors/v2/G46vjoAVzGkkz",
    "task": "https://api.tacc.cloud/actors/v2/G46vjoAVzGkkz/executions/Myp6wvklV0zgQ",
}
PIPELINE_RETIRE = {
    "uuid": "1064aaf1-459c-5e42-820d-b822aa4b3990",
    "action": "retire",
    "token": "0df45d5e9e0f31e2",
}

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "tacobot pipeline": ("PipelineCreate", TACOBOT_PIPELINE),
    "pipeline update": ("PipelineUpdate", PIPELINE_UPDATE),
    "pipeline retire": ("PipelineRetire", PIPELINE_RETIRE),
    "finish event": ("JobEvent", FINISH_EVENT),
    "index request": ("IndexRequest", INDEX_REQUEST),
    "indexed": ("IndexedEvent", INDEXED_EVENT),
    "agave launch with sample linkage": ("AgavePipelineJob", AGAVE_LAUNCH),
    "agave callback": ("AgaveJobCallback", AGAVE_CALLBACK),
    "job create": ("JobCreate", JOB_CREATE),
}


@pytest.mark.parametrize(("message_type", "document"), EXAMPLES.values(), ids=list(EXAMPLES))
def test_documented_example_is_accepted_as_json(
    message_type: str, document: dict[str, Any]
) -> None:
    decoded = decode(json.dumps(document).encode(), "application/json", message_type)

    assert decoded == document


@pytest.mark.parametrize(("message_type", "document"), EXAMPLES.values(), ids=list(EXAMPLES))
def test_documented_example_survives_protobuf(message_type: str, document: dict[str, Any]) -> None:
    decoded = decode(json.dumps(document).encode(), "application/json", message_type)

    again = decode(protobuf(decoded, message_type), "application/x-protobuf", message_type)

    assert again == decoded
    assert json.dumps(again, sort_keys=True) == json.dumps(document, sort_keys=True)


def test_launch_without_linkage_parameter_is_refused() -> None:
    assert not registry().is_valid({"job_definition": TACOBOT_JOB_DEFINITION}, "agave_pipelinejob")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sample_id", ["sample.tacc.abcde", "sample.uw_biofab.141715"]),
        ("sample_id", "103246e1-3c14-5d87-a8c7-4e2a6e3a9b10"),
        ("measurement_id", ["measurement.tacc.1234", "measurement.tacc.2345"]),
        ("experiment_id", "experiment.ginkgo.19606"),
        ("experiment_design_id", "NovelChassis-NAND-Gate"),
        ("experiment_design_id", "uri:urn:114e95e6-67a8-5a06-9484-3131c6907890"),
    ],
)
def test_linkage_accepts_text_ids_uuids_and_arrays(field: str, value: Any) -> None:
    document = copy.deepcopy(AGAVE_LAUNCH) | {"parameters": {field: value}}

    registry().validate(document, "agave_pipelinejob")
    registry().validate(
        {"action": "create", "pipeline_uuid": JOB_CREATE["pipeline_uuid"], field: value},
        "pipelinejob_create",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sample_id", "104246e1-3c14-5d87-a8c7-4e2a6e3a9b10"),  # a measurement UUID
        ("sample_id", []),
        ("sample_id", "measurement.tacc.1234"),
        ("experiment_design_id", "Not-A-Known-Design"),
    ],
)
def test_linkage_refuses_wrong_kind_or_empty(field: str, value: Any) -> None:
    document = copy.deepcopy(AGAVE_LAUNCH) | {"parameters": {field: value}}

    assert not registry().is_valid(document, "agave_pipelinejob")
