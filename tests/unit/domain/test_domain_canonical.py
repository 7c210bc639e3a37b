"""Canonical JSON: one text per value, and refusals that name the JSON path."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.domain.canonical import canonical_json
from pipelinejobs.errors import InvalidInput


def test_sorted_keys_and_compact_separators() -> None:
    assert canonical_json({"b": [1, 2.5, None], "a": {"d": True, "c": "x"}}) == (
        '{"a":{"c":"x","d":true},"b":[1,2.5,null]}'
    )


def test_matches_the_originals_serialization_for_ascii() -> None:
    data = {"alpha": 0.5, "inputs": ["agave://x/y"], "nested": {"z": 1, "a": [False]}}
    assert canonical_json(data) == json.dumps(data, sort_keys=True, separators=(",", ":"))


def test_non_ascii_text_is_kept_as_unicode() -> None:
    assert canonical_json({"name": "Ångström ✓"}) == '{"name":"Ångström ✓"}'


def test_tuples_and_mappings_serialize_like_lists_and_dicts() -> None:
    assert canonical_json(OrderedDict([("b", (1, 2)), ("a", 0)])) == '{"a":0,"b":[1,2]}'


def test_the_same_object_may_appear_twice() -> None:
    shared = {"k": 1}
    assert canonical_json([shared, shared]) == '[{"k":1},{"k":1}]'


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (math.nan, "$"),
        ({"a": [1, {"b c": math.inf}]}, '$.a[1]["b c"]'),
        ({"data": {"when": -math.inf}}, "$.data.when"),
        ({"tags": {"x", "y"}}, "$.tags"),
        ({"blob": b"bytes"}, "$.blob"),
        ([object()], "$[0]"),
        ({"data": {1: "one"}}, "$.data"),
        ({"data": {("a",): "tuple key"}}, "$.data"),
        ({"text": "bad \ud800 surrogate"}, "$.text"),
    ],
)
def test_non_json_values_are_refused_naming_the_path(value: Any, path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        canonical_json(value)
    assert str(caught.value).startswith(f"{path}: ")


def test_non_string_key_message_says_keys_must_be_strings() -> None:
    with pytest.raises(InvalidInput, match="keys must be strings"):
        canonical_json({1: "one"})


def test_cycles_are_refused() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidInput, match=r"\$\[0\]: value contains itself"):
        canonical_json(cyclic)


def test_absurd_nesting_is_refused_not_crashed() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        canonical_json(deep)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trips_through_json(value: Any) -> None:
    text = canonical_json(value)
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text


@given(st.dictionaries(st.text(max_size=8), st.integers(), min_size=1, max_size=8))
def test_key_insertion_order_never_matters(value: dict[str, int]) -> None:
    assert canonical_json(dict(reversed(list(value.items())))) == canonical_json(value)
