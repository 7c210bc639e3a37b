"""Update and admin tokens: HMAC values, rotation, time buckets, constant-time checks."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs.domain.tokens import TOKEN_LENGTH, AdminTokens, UpdateTokens, same_secret
from pipelinejobs.errors import InvalidIdentifier, InvalidInput, Unauthorized

OLD_KEY = b"old-key-0123456789abcdef"
NEW_KEY = b"new-key-0123456789abcdef"
JOB = typed_uuid("a job", UUIDType.PIPELINEJOB)
OTHER_JOB = typed_uuid("another job", UUIDType.PIPELINEJOB)


def reference_token(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:16]


def test_update_token_is_the_truncated_hmac_of_the_uuid() -> None:
    token = UpdateTokens([NEW_KEY]).issue(JOB)
    assert TOKEN_LENGTH == 16
    assert token == reference_token(NEW_KEY, JOB)
    assert len(token) == 16
    assert set(token) <= set("0123456789abcdef")


def test_update_token_is_stable_and_per_document() -> None:
    signer = UpdateTokens([NEW_KEY])
    assert signer.issue(JOB) == signer.issue(JOB)
    assert signer.issue(JOB.upper()) == signer.issue(JOB)
    assert signer.issue(JOB) != signer.issue(OTHER_JOB)


def test_verify_accepts_its_token_only_for_its_document() -> None:
    signer = UpdateTokens([NEW_KEY])
    token = signer.issue(JOB)
    assert signer.verify(JOB, token)
    assert not signer.verify(OTHER_JOB, token)


def test_tokens_match_only_in_their_exact_case() -> None:
    """Issue 13: ``CFADBAFCF37E0601`` was accepted for ``cfadbafcf37e0601``."""
    signer = UpdateTokens([NEW_KEY])
    token = signer.issue(JOB)
    assert token != token.upper()
    assert not signer.verify(JOB, token.upper())
    admin = AdminTokens(NEW_KEY)
    admin_token = admin.issue(1_000_000)
    assert admin.verify(admin_token, 1_000_000)
    assert not admin.verify(admin_token.upper(), 1_000_000)
    assert same_secret("PJ_abcDEF", "PJ_abcDEF")
    assert not same_secret("PJ_abcDEF", "PJ_abcdef")
    assert not same_secret("PJ_abcDEF", None)


def test_rotation_first_key_signs_every_key_verifies() -> None:
    before = UpdateTokens([OLD_KEY])
    after = UpdateTokens([NEW_KEY, OLD_KEY])
    old_token = before.issue(JOB)
    assert after.issue(JOB) == reference_token(NEW_KEY, JOB)
    assert after.verify(JOB, old_token)
    assert after.verify(JOB, after.issue(JOB))
    assert not UpdateTokens([NEW_KEY]).verify(JOB, old_token)


@pytest.mark.parametrize(
    "token",
    [None, "", "0", "0" * 15, "0" * 17, "not-a-token-at-all", "ß" * 16, "\ud800" * 16, 12345],
)
def test_garbage_tokens_are_false_not_errors(token: Any) -> None:
    assert UpdateTokens([NEW_KEY]).verify(JOB, token) is False
    assert AdminTokens(NEW_KEY).verify(token, 1_000_000.0) is False


def test_a_token_with_extra_characters_is_refused() -> None:
    signer = UpdateTokens([NEW_KEY])
    assert not signer.verify(JOB, signer.issue(JOB) + "0")
    assert not signer.verify(JOB, signer.issue(JOB)[:-1])


def test_verify_compares_in_constant_time_against_every_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = UpdateTokens([NEW_KEY, OLD_KEY])
    assert signer.verify(JOB, signer.issue(JOB))
    assert len(calls) == 2, "a match on the first key must not skip the second comparison"
    calls.clear()
    assert AdminTokens(NEW_KEY).verify("0" * 16, 90.0) is False
    assert len(calls) == 2


def test_require_raises_unauthorized_without_revealing_the_token() -> None:
    signer = UpdateTokens([NEW_KEY])
    expected = signer.issue(JOB)
    signer.require(JOB, expected)
    with pytest.raises(Unauthorized) as caught:
        signer.require(JOB, "0123456789abcdef")
    assert expected not in str(caught.value)
    assert JOB in str(caught.value)
    assert "not valid" in str(caught.value)
    with pytest.raises(Unauthorized, match="missing"):
        signer.require(JOB, None)


def test_malformed_document_uuid_is_an_identifier_error() -> None:
    with pytest.raises(InvalidIdentifier):
        UpdateTokens([NEW_KEY]).issue("job-1")


@pytest.mark.parametrize(
    "keys",
    [[], [b"short"], [NEW_KEY, b"short"], ["a string key of enough length"], NEW_KEY, "text"],
)
def test_bad_update_keys_are_refused(keys: Any) -> None:
    with pytest.raises(InvalidInput):
        UpdateTokens(keys)


def test_keys_never_appear_in_reprs_or_errors() -> None:
    signer = UpdateTokens([NEW_KEY, OLD_KEY])
    admin = AdminTokens(NEW_KEY, lifetime=60)
    for text in (repr(signer), str(signer), repr(admin), str(admin)):
        assert "new-key" not in text
        assert "old-key" not in text
    assert "2 keys hidden" in repr(signer)
    with pytest.raises(Unauthorized) as caught:
        admin.require("0" * 16, 0.0)
    assert admin.issue(0.0) not in str(caught.value)
    assert "new-key" not in str(caught.value)


def test_admin_token_is_the_hmac_of_the_time_bucket() -> None:
    admin = AdminTokens(NEW_KEY)
    assert admin.issue(1_000_000.0) == reference_token(NEW_KEY, str(1_000_000 // 30))
    assert admin.issue(59.999) == reference_token(NEW_KEY, "1")


@pytest.mark.parametrize(
    ("issued_at", "checked_at", "valid"),
    [
        (0.0, 0.0, True),
        (0.0, 29.9, True),  # same bucket
        (0.0, 30.0, True),  # previous bucket
        (29.9, 59.9, True),  # previous bucket, 30 s later
        (0.0, 59.9, True),  # previous bucket, almost 2 lifetimes later
        (0.0, 60.0, False),  # expired: two buckets back
        (29.9, 60.0, False),
        (60.0, 30.0, False),  # issued in a later bucket than now
    ],
)
def test_admin_tokens_accept_current_and_previous_bucket(
    issued_at: float, checked_at: float, valid: bool
) -> None:
    admin = AdminTokens(NEW_KEY)
    assert admin.verify(admin.issue(issued_at), checked_at) is valid


def test_admin_lifetime_is_configurable() -> None:
    admin = AdminTokens(NEW_KEY, lifetime=3600)
    token = admin.issue(0.0)
    assert admin.verify(token, 7199.0)
    assert not admin.verify(token, 7200.0)


def test_admin_token_of_another_key_is_refused() -> None:
    assert not AdminTokens(NEW_KEY).verify(AdminTokens(OLD_KEY).issue(100.0), 100.0)


def test_admin_require_raises_unauthorized_when_expired() -> None:
    admin = AdminTokens(NEW_KEY)
    token = admin.issue(0.0)
    admin.require(token, 45.0)
    with pytest.raises(Unauthorized, match="expired"):
        admin.require(token, 90.0)
    with pytest.raises(Unauthorized, match="missing"):
        admin.require(None, 90.0)


@pytest.mark.parametrize("lifetime", [0, -30, 1.5, True])
def test_bad_admin_lifetime_is_refused(lifetime: Any) -> None:
    with pytest.raises(InvalidInput, match="lifetime"):
        AdminTokens(NEW_KEY, lifetime=lifetime)


@pytest.mark.parametrize("key", [b"", b"short", "a string key of enough length"])
def test_bad_admin_key_is_refused(key: Any) -> None:
    with pytest.raises(InvalidInput, match="admin token key"):
        AdminTokens(key)


@pytest.mark.parametrize("now", [float("nan"), float("inf"), "now"])
def test_bad_clock_value_is_refused(now: Any) -> None:
    with pytest.raises(InvalidInput, match="now"):
        AdminTokens(NEW_KEY).issue(now)


@given(text=st.text(min_size=1), kind=st.sampled_from(list(UUIDType)))
def test_issued_update_tokens_always_verify(text: str, kind: UUIDType) -> None:
    signer = UpdateTokens([NEW_KEY, OLD_KEY])
    document = typed_uuid(text, kind)
    assert signer.verify(document, signer.issue(document))
    assert UpdateTokens([OLD_KEY]).issue(document) != signer.issue(document)
