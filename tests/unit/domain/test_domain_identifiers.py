"""Typed UUIDs: the documented test vector, type detection, refusals and idempotent identities."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.domain.identifiers import (
    DEFAULT_DOMAIN,
    UUIDType,
    file_uuid,
    job_uuid,
    namespace,
    normalize_uuid,
    pipeline_uuid,
    random_typed_uuid,
    require_uuid,
    typed_uuid,
    uuid_type,
)
from pipelinejobs.errors import InvalidIdentifier, InvalidInput

SNAKES = "Why did it have to be snakes?"
EXPERIMENT = "102e95e6-67a8-5a06-9484-3131c6907890"
SAMPLE_A = typed_uuid("sample a", UUIDType.SAMPLE)
SAMPLE_B = typed_uuid("sample b", UUIDType.SAMPLE)
PIPELINE = pipeline_uuid([{"id": "tacobot-0.1.0", "parameters": {"salsa": True}}])

# Written out from sd2e-facts.md section 3, independently of the implementation's table.
FACTS_PREFIXES = {
    "generic": "100",
    "challenge_problem": "101",
    "experiment": "102",
    "sample": "103",
    "measurement": "104",
    "file": "105",
    "pipeline": "106",
    "pipelinejob": "107",
    "pipelinejob_event": "108",
    "reference": "109",
    "product": "110",
    "upload": "111",
    "experiment_design": "114",
    "input_classifier": "115",
    "fixity": "116",
    "process": "117",
    "annotation": "118",
    "inline_annotation": "119",
    "query": "120",
    "dashboard": "121",
    "tag_annotation": "122",
    "text_annotation": "123",
    "association": "124",
    "structured_request": "125",
}


def test_every_documented_type_has_its_prefix() -> None:
    assert {kind.value: kind.prefix for kind in UUIDType} == FACTS_PREFIXES


def test_namespace_of_default_domain_is_the_original() -> None:
    assert DEFAULT_DOMAIN == "sd2e.org"
    assert str(namespace()) == "54765aeb-44ca-374a-9a9f-eb4658383ee4"


def test_documented_test_vector() -> None:
    assert typed_uuid(SNAKES, UUIDType.PIPELINEJOB) == "107acb4d-1f93-553a-9e1c-b7b58125bc89"
    assert typed_uuid(SNAKES, "pipelinejob", domain="sd2e.org") == (
        "107acb4d-1f93-553a-9e1c-b7b58125bc89"
    )


def test_original_job_uuid_string_reproduces() -> None:
    """The facts file's worked example of the original job-UUID text."""
    text = f"106c46ff-8186-5756-a934-071f4497b58d:['{EXPERIMENT}']:{{}}"
    assert typed_uuid(text, UUIDType.PIPELINEJOB) == "107a90b7-f083-5167-a63d-41a3bf278bf8"


def test_domain_changes_the_uuid() -> None:
    assert typed_uuid(SNAKES, UUIDType.PIPELINEJOB, domain="example.org") != typed_uuid(
        SNAKES, UUIDType.PIPELINEJOB
    )


def test_unknown_type_name_is_refused_listing_the_names() -> None:
    with pytest.raises(InvalidInput, match="pipelinejob_event"):
        typed_uuid(SNAKES, "pipeline_job")


@pytest.mark.parametrize("domain", ["", None])
def test_empty_domain_is_refused(domain: str) -> None:
    with pytest.raises(InvalidInput, match="domain"):
        typed_uuid(SNAKES, UUIDType.GENERIC, domain=domain)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("107acb4d-1f93-553a-9e1c-b7b58125bc89", UUIDType.PIPELINEJOB),
        ("uri:urn:107acb4d-1f93-553a-9e1c-b7b58125bc89", UUIDType.PIPELINEJOB),
        ("URI:URN:107ACB4D-1F93-553A-9E1C-B7B58125BC89", UUIDType.PIPELINEJOB),
        (EXPERIMENT, UUIDType.EXPERIMENT),
        ("125acb4d-1f93-553a-9e1c-b7b58125bc89", UUIDType.STRUCTURED_REQUEST),
    ],
)
def test_uuid_type_detects_the_type(value: str, expected: UUIDType) -> None:
    assert uuid_type(value) is expected


def test_normalize_lowercases_and_drops_urn_prefix() -> None:
    assert normalize_uuid("uri:urn:107ACB4D-1F93-553A-9E1C-B7B58125BC89") == (
        "107acb4d-1f93-553a-9e1c-b7b58125bc89"
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "107acb4d",
        "107acb4d1f93553a9e1cb7b58125bc89",
        "107acb4d-1f93-553a-9e1c-b7b58125bc89 ",
        " 107acb4d-1f93-553a-9e1c-b7b58125bc89",
        "107acb4d-1f93-553a-9e1c-b7b58125bc8g",
        "{107acb4d-1f93-553a-9e1c-b7b58125bc89}",
        "urn:107acb4d-1f93-553a-9e1c-b7b58125bc89",
        "107acb4d-1f93-553a-9e1c-b7b58125bc89\n",
    ],
)
def test_malformed_values_are_refused_by_name(value: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        uuid_type(value)
    assert repr(value) in str(caught.value)
    assert "expected a typed UUID" in str(caught.value)


@pytest.mark.parametrize("prefix", ["000", "112", "113", "126", "fff"])
def test_unknown_prefix_is_refused_listing_the_prefixes(prefix: str) -> None:
    value = f"{prefix}acb4d-1f93-553a-9e1c-b7b58125bc89"
    with pytest.raises(InvalidIdentifier, match=f"unknown type prefix {prefix}") as caught:
        uuid_type(value)
    assert "107 pipelinejob" in str(caught.value)


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="int"):
        uuid_type(107)  # type: ignore[arg-type]


def test_oversized_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        uuid_type("x" * 10_000)
    assert "10000 characters" in str(caught.value)
    assert len(str(caught.value)) < 400


def test_require_uuid_returns_the_normalized_uuid() -> None:
    value = "URI:URN:107ACB4D-1F93-553A-9E1C-B7B58125BC89"
    assert require_uuid(value, UUIDType.PIPELINEJOB) == "107acb4d-1f93-553a-9e1c-b7b58125bc89"


def test_require_uuid_refuses_another_type_naming_both() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        require_uuid(SAMPLE_A, UUIDType.PIPELINEJOB)
    assert "expected a pipelinejob UUID (prefix 107), got a sample UUID (prefix 103)" in str(
        caught.value
    )


def test_require_uuid_refuses_malformed() -> None:
    with pytest.raises(InvalidIdentifier, match="not a UUID"):
        require_uuid("pipeline.tacobot", UUIDType.PIPELINE)


def test_random_typed_uuid_depends_on_entropy_and_type() -> None:
    first = random_typed_uuid(UUIDType.PIPELINEJOB_EVENT, "a" * 32)
    assert uuid_type(first) is UUIDType.PIPELINEJOB_EVENT
    assert first == random_typed_uuid("pipelinejob_event", "a" * 32)
    assert first != random_typed_uuid(UUIDType.PIPELINEJOB_EVENT, "b" * 32)


def test_random_typed_uuid_refuses_empty_entropy() -> None:
    with pytest.raises(InvalidInput, match="entropy"):
        random_typed_uuid(UUIDType.PIPELINEJOB_EVENT, "")


COMPONENTS = [
    {"id": "e1LqaqMyqq4xB", "opts": {"cheese": True, "salsa": True, "eggs": False}},
    {"id": "bbq-brisket-0.5.0", "parameters": {"smoke": True, "quantity": 4}},
]


def test_pipeline_uuid_is_a_pipeline_uuid_of_the_components() -> None:
    value = pipeline_uuid(COMPONENTS)
    assert uuid_type(value) is UUIDType.PIPELINE
    reordered_keys = [dict(reversed(list(component.items()))) for component in COMPONENTS]
    assert pipeline_uuid(reordered_keys) == value


@pytest.mark.parametrize(
    "changed",
    [
        [COMPONENTS[0]],
        list(reversed(COMPONENTS)),
        [COMPONENTS[0], {**COMPONENTS[1], "parameters": {"smoke": True, "quantity": 5}}],
        [*COMPONENTS, {"id": "extra"}],
        [],
    ],
)
def test_pipeline_uuid_changes_when_components_change(changed: list[object]) -> None:
    assert pipeline_uuid(changed) != pipeline_uuid(COMPONENTS)


def test_pipeline_uuid_refuses_non_list() -> None:
    with pytest.raises(InvalidInput, match="components must be a list"):
        pipeline_uuid({"id": "x"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("components", "index"),
    [
        ([1, "x"], 0),
        ([COMPONENTS[0], "bbq-brisket-0.5.0"], 1),
        ([*COMPONENTS, None], 2),
        ([COMPONENTS[0], [COMPONENTS[1]]], 1),
    ],
)
def test_pipeline_uuid_refuses_a_component_that_is_not_an_object(
    components: list[object], index: int
) -> None:
    with pytest.raises(
        InvalidInput, match=rf"components\[{index}\] must be a component object such as"
    ):
        pipeline_uuid(components)


def test_job_uuid_is_independent_of_linkage_order_case_and_duplicates() -> None:
    data = {"alpha": 0.5, "inputs": ["agave://data/x.txt"]}
    first = job_uuid(PIPELINE, [SAMPLE_A, SAMPLE_B], data)
    assert uuid_type(first) is UUIDType.PIPELINEJOB
    assert job_uuid(PIPELINE, [SAMPLE_B, SAMPLE_A, SAMPLE_B], data) == first
    assert job_uuid(PIPELINE, (u.upper() for u in [SAMPLE_B, SAMPLE_A]), data) == first
    assert job_uuid(PIPELINE.upper(), [SAMPLE_A, SAMPLE_B], dict(reversed(data.items()))) == first


def test_job_uuid_changes_with_each_input() -> None:
    base = job_uuid(PIPELINE, [SAMPLE_A], {"alpha": 0.5})
    other_pipeline = pipeline_uuid([{"id": "other"}])
    assert job_uuid(other_pipeline, [SAMPLE_A], {"alpha": 0.5}) != base
    assert job_uuid(PIPELINE, [SAMPLE_B], {"alpha": 0.5}) != base
    assert job_uuid(PIPELINE, [], {"alpha": 0.5}) != base
    assert job_uuid(PIPELINE, [SAMPLE_A], {"alpha": 0.25}) != base


def test_job_uuid_refuses_a_pipeline_uuid_of_another_type() -> None:
    with pytest.raises(InvalidIdentifier, match="expected a pipeline UUID"):
        job_uuid(SAMPLE_A, [], {})


def test_job_uuid_refuses_malformed_linkage() -> None:
    with pytest.raises(InvalidIdentifier, match=r"sample\.tacc\.abcde"):
        job_uuid(PIPELINE, ["sample.tacc.abcde"], {})


def test_job_uuid_refuses_a_single_string_as_linkage() -> None:
    with pytest.raises(InvalidInput, match="not a single string"):
        job_uuid(PIPELINE, SAMPLE_A, {})


def test_job_uuid_refuses_non_object_data() -> None:
    with pytest.raises(InvalidInput, match="data must be a JSON object"):
        job_uuid(PIPELINE, [], [1, 2])  # type: ignore[arg-type]


def test_file_uuid_is_the_typed_uuid_of_the_path() -> None:
    path = "/products/v2/106abc/xyz/output.txt"
    assert file_uuid(path) == typed_uuid(path, UUIDType.FILE)
    assert uuid_type(file_uuid(path)) is UUIDType.FILE


def test_file_uuid_refuses_relative_path() -> None:
    with pytest.raises(InvalidInput, match="absolute"):
        file_uuid("output.txt")


@given(text=st.text(), kind=st.sampled_from(list(UUIDType)))
def test_typed_uuid_has_its_prefix_and_round_trips(text: str, kind: UUIDType) -> None:
    value = typed_uuid(text, kind)
    assert value.startswith(kind.prefix)
    assert str(uuid.UUID(value)) == value
    assert uuid_type(value) is kind
    assert require_uuid(value.upper(), kind) == value
    assert value[3:] == str(uuid.uuid5(namespace(), text))[3:]
