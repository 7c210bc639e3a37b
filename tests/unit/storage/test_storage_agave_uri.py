"""``agave://<system>/<path>`` URIs and storage system names."""

from __future__ import annotations

import pytest
from pipelinejobs.domain.agave_uri import agave_uri, parse_agave_uri, require_system_name
from pipelinejobs.errors import InvalidInput


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "agave://data-sd2e-community/products/v2/106abc/job/a.csv",
            ("data-sd2e-community", "/products/v2/106abc/job/a.csv"),
        ),
        ("agave://data-sd2e-community/products/v2/", ("data-sd2e-community", "/products/v2")),
        ("agave://data-sd2e-community/", ("data-sd2e-community", "/")),
        ("agave://data-sd2e-community", ("data-sd2e-community", "/")),
        ("agave://sys.tacc_1/uploads/a b.txt", ("sys.tacc_1", "/uploads/a b.txt")),
    ],
)
def test_parse_splits_system_and_absolute_path(uri: str, expected: tuple[str, str]) -> None:
    assert parse_agave_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "https://data-sd2e-community/products",
        "data-sd2e-community/products",
        "agave:///products/v2",
        "agave://../products",
        "agave://sys/products/../../etc",
        "agave://sys//products",
        "agave://sys/products\\x",
        "agave://sys/products/\x00",
        "agave://user@sys/products",
    ],
)
def test_parse_refuses_uris_that_are_not_agave_or_escape(uri: str) -> None:
    with pytest.raises(InvalidInput):
        parse_agave_uri(uri)


def test_parse_error_names_the_uri_and_the_expected_form() -> None:
    with pytest.raises(InvalidInput, match=r"'s3://bucket/a'.*agave://data-sd2e-community/"):
        parse_agave_uri("s3://bucket/a")


def test_agave_uri_is_the_inverse_of_parse() -> None:
    uri = agave_uri("data-sd2e-community", "/products/v2/a.csv")
    assert uri == "agave://data-sd2e-community/products/v2/a.csv"
    assert parse_agave_uri(uri) == ("data-sd2e-community", "/products/v2/a.csv")


@pytest.mark.parametrize("name", ["data-sd2e-community", "a", "x.y_z-1", "..a"])
def test_system_names_of_the_narrow_alphabet_are_accepted(name: str) -> None:
    assert require_system_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "...", "a/b", "a b", "é", "x" * 256])
def test_other_system_names_are_refused_with_the_accepted_form(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"letters, digits, '\.', '_' or '-'"):
        require_system_name(name)
