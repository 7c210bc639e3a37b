"""Index filters: URL-decoded RE2 patterns searched in file base names, with limits."""

from __future__ import annotations

import pytest
from pipelinejobs.application.filters import (
    MAX_FILTER_LENGTH,
    MAX_FILTERS,
    compile_filters,
    filters_from_parameter,
)
from pipelinejobs.errors import InvalidInput, MessageTooLarge

ARCHIVE = "/products/v2/106abc/PAVpwrwq/job1"
FILES = [
    f"{ARCHIVE}/sample.uw_biofab.141715.fcs",
    f"{ARCHIVE}/sample-uw_biofab-141715.csv",
    f"{ARCHIVE}/sampleXuw_biofabX141715.csv",
    f"{ARCHIVE}/sample.uw_biofab.999999.fcs",
    f"{ARCHIVE}/sample.uw_biofab.141715/readme.txt",
]


def test_the_documentation_example_selects_the_two_matching_files() -> None:
    filters = compile_filters(["sample%5C.uw_biofab%5C.141715", "sample-uw_biofab-141715"])
    assert filters.patterns == (r"sample\.uw_biofab\.141715", "sample-uw_biofab-141715")
    assert filters.select(FILES) == FILES[:2]


def test_no_filters_select_every_file() -> None:
    assert compile_filters(None).select(FILES) == FILES
    assert compile_filters([]).select(FILES) == FILES


def test_a_file_matches_when_any_filter_matches() -> None:
    filters = compile_filters([r"\.fcs$", "nomatch"])
    assert filters.select(FILES) == [FILES[0], FILES[3]]


def test_only_the_base_name_is_searched() -> None:
    filters = compile_filters(["141715"])
    assert FILES[4] not in filters.select(FILES)
    assert not compile_filters(["products"]).select(FILES)
    assert compile_filters(["^sample-"]).select(FILES) == [FILES[1]]


def test_plus_is_a_regular_expression_quantifier_not_a_space() -> None:
    filters = compile_filters(["a+b"])
    assert filters.matches("/x/aaab")
    assert not filters.matches("/x/a b")


def test_python_syntax_that_re2_shares_works() -> None:
    filters = compile_filters([r"(?i)^SAMPLE-(?P<lab>\w+)-\d{6}\.csv$"])
    assert filters.select(FILES) == [FILES[1]]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("sample(", "missing \\)"),
        (r"(a)\1", "invalid escape sequence"),
        (r"(?<=x)a", "invalid perl operator"),
        ("a%28", "missing \\)"),
    ],
)
def test_an_invalid_filter_is_refused_naming_it_and_re2s_reason(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as refused:
        compile_filters(["fine", pattern])
    message = str(refused.value)
    assert message.startswith("filters[1] ")
    assert "RE2 syntax" in message


def test_exponential_backtracking_patterns_run_in_linear_time() -> None:
    filters = compile_filters(["(a+)+$"])
    assert not filters.matches("/x/" + "a" * 5000 + "!")


def test_at_most_max_filters() -> None:
    assert len(compile_filters(["a"] * MAX_FILTERS).patterns) == MAX_FILTERS
    with pytest.raises(MessageTooLarge, match=f"{MAX_FILTERS + 1} entries; at most {MAX_FILTERS}"):
        compile_filters(["a"] * (MAX_FILTERS + 1))


def test_each_filter_at_most_max_length_after_decoding() -> None:
    compile_filters(["a" * MAX_FILTER_LENGTH])
    compile_filters(["%41" * MAX_FILTER_LENGTH])  # decodes to MAX_FILTER_LENGTH characters
    with pytest.raises(InvalidInput, match=rf"filters\[0\] has {MAX_FILTER_LENGTH + 1} characters"):
        compile_filters(["a" * (MAX_FILTER_LENGTH + 1)])


@pytest.mark.parametrize(
    ("filters", "problem"),
    [
        ("sample", "must be a list"),
        ({"a": 1}, "must be a list"),
        (["ok", 3], r"filters\[1\] must be a string"),
        ([None], r"filters\[0\] must be a string"),
    ],
)
def test_filters_must_be_a_list_of_strings(filters: object, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        compile_filters(filters)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["a\\\\.csv", "b"]', ["a\\.csv", "b"]),
        ("[]", []),
        (r"sample\.uw", [r"sample\.uw"]),
        (r"[ab]\.csv", [r"[ab]\.csv"]),
        ("[1, 2]", ["[1, 2]"]),
        ("sample%5C.uw", ["sample%5C.uw"]),
    ],
)
def test_the_url_parameter_is_a_json_array_or_one_pattern(value: str, expected: list[str]) -> None:
    assert filters_from_parameter(value) == expected


@pytest.mark.parametrize(
    ("filters", "problem"),
    [
        (["ok", "(?<=x)y"], r"index_patterns\[1\] '\(\?<=x\)y' is not an accepted"),
        ([7], r"index_patterns\[0\] must be a string"),
        ("a", r"index_patterns must be a list"),
        ([f"f{n}" for n in range(MAX_FILTERS + 1)], rf"index_patterns has {MAX_FILTERS + 1}"),
    ],
)
def test_errors_name_the_field_the_patterns_came_in(filters: object, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        compile_filters(filters, field="index_patterns")
