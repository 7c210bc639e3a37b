"""Size and nesting limits are enforced before parsing; JSON is parsed strictly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipelinejobs.errors import InvalidInput, MessageTooLarge
from pipelinejobs.messages import limits as limits_module
from pipelinejobs.messages.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_document,
    nesting_depth,
    parse_json,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_defaults() -> None:
    assert DEFAULT_LIMITS.max_bytes == 1_048_576
    assert DEFAULT_LIMITS.max_depth == 32


def test_oversized_body_names_its_size_and_the_limit() -> None:
    body = json.dumps({"data": "x" * 2000}).encode()

    with pytest.raises(MessageTooLarge, match=rf"{len(body)} bytes; the limit is 1024 bytes"):
        parse_json(body, Limits(max_bytes=1024))


def test_oversized_text_is_refused_without_encoding_it() -> None:
    with pytest.raises(MessageTooLarge, match="2000 characters; the limit is 1024 bytes"):
        parse_json("1" * 2000, Limits(max_bytes=1024))


def test_deep_nesting_is_refused_before_json_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parser_must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("json.loads ran on a too-deep document")

    monkeypatch.setattr(limits_module.json, "loads", parser_must_not_run)

    with pytest.raises(MessageTooLarge, match="nesting depth is 100000; the limit is 32"):
        parse_json(nested(100_000))


def test_depth_at_the_limit_is_accepted_and_one_more_is_not() -> None:
    assert parse_json(nested(32)) == json.loads(nested(32))
    with pytest.raises(MessageTooLarge):
        parse_json(nested(33))


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [{}], "b": {}}', 3),
        ('{"a": "[[[[{{{{"}', 1),
        ('{"a": "quote \\" then [[[["}', 1),
        ('["\\\\", [[]]]', 3),
    ],
)
def test_nesting_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_brackets_in_strings_do_not_count_towards_the_limit() -> None:
    document = {"filter": "[" * 100 + "{" * 100}

    assert parse_json(json.dumps(document)) == document


def test_unterminated_string_full_of_escaped_quotes_is_invalid_json() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_json('{"a": "' + '\\"' * 200_000)


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(InvalidInput, match="line 2, column 10"):
        parse_json('{"uuid": 1,\n "name": }')


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        parse_json(b'{"name": "\xff"}')


def test_byte_order_mark_is_ignored() -> None:
    assert parse_json(b'\xef\xbb\xbf{"name": "run"}') == {"name": "run"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(constant: str) -> None:
    with pytest.raises(InvalidInput, match=f"{constant} is not a JSON number"):
        parse_json(f'{{"data": {{"x": {constant}}}}}')


def test_duplicate_keys_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="'token' appear more than once"):
        parse_json('{"token": "0dc73dc3ff39b49a", "name": "run", "token": "ffffffffffffffff"}')


def test_huge_integer_literal_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_json("[" + "9" * 5000 + "]")


def test_long_string_is_refused_with_its_path() -> None:
    with pytest.raises(MessageTooLarge, match=r"\$\.data\.note: string of 11 characters"):
        parse_json('{"data": {"note": "' + "x" * 11 + '"}}', Limits(max_string_length=10))


def test_too_many_items_are_refused_with_their_path() -> None:
    with pytest.raises(MessageTooLarge, match=r"\$\.filters: 4 items; the limit is 3"):
        parse_json('{"filters": ["a", "b", "c", "d"]}', Limits(max_items=3))


def test_check_document_refuses_deep_dicts_with_the_path() -> None:
    document: dict[str, Any] = {}
    inner = document
    for _ in range(40):
        inner["a"] = {}
        inner = inner["a"]

    with pytest.raises(MessageTooLarge, match=r"\$(\.a){32}: nesting deeper than the limit of 32"):
        check_document(document)


def test_check_document_refuses_non_finite_numbers() -> None:
    with pytest.raises(InvalidInput, match=r"\$\.data\[1\]: inf is not a JSON number"):
        check_document({"data": [1.0, float("inf")]})


def test_check_document_accepts_ordinary_documents() -> None:
    check_document({"uuid": "1073f4ff", "data": {"n": [1, 2.5, None, True, {"k": "v"}]}})
