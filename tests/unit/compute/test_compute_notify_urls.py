"""Notification URL macros and the retry backoff."""

from __future__ import annotations

import pytest
from pipelinejobs.compute.local.notifier import RetryPolicy, expand_url

JOB = {
    "id": "123-0001-local",
    "name": "TACObot job",
    "appId": "tacobot9000-0.1.0u1",
    "executionSystem": "local",
    "archivePath": "/products/v2/abc",
    "owner": "pipelinejobs",
    "status": "RUNNING",
    "lastStatusMessage": "running",
}


def test_status_and_id_macros_are_substituted() -> None:
    url = "http://gw/actors/v2/jobs-manager/messages?uuid=107x&token=t&status=${JOB_STATUS}&id=${JOB_ID}"
    assert expand_url(url, JOB) == (
        "http://gw/actors/v2/jobs-manager/messages?uuid=107x&token=t&status=RUNNING&id=123-0001-local"
    )


def test_status_has_the_aliases_the_original_proxy_used() -> None:
    assert expand_url("?a=${STATUS}&b=${EVENT}", JOB) == "?a=RUNNING&b=RUNNING"


def test_values_are_url_encoded() -> None:
    failed = {**JOB, "status": "FAILED", "lastStatusMessage": "exit 3: boom & more=yes"}
    assert expand_url("?note=${JOB_ERROR}&n=${JOB_NAME}", failed) == (
        "?note=exit%203%3A%20boom%20%26%20more%3Dyes&n=TACObot%20job"
    )


def test_job_error_is_empty_unless_the_job_failed() -> None:
    assert expand_url("?note=${JOB_ERROR}", JOB) == "?note="


def test_unknown_macros_are_left_as_they_are() -> None:
    assert expand_url("?x=${NOT_A_MACRO}&y=$JOB_ID", JOB) == "?x=${NOT_A_MACRO}&y=$JOB_ID"


def test_backoff_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(base=0.5, max_delay=3.0, horizon=60)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(10_000) == 3.0  # no overflow however long the outage


def test_retries_go_on_until_the_horizon_not_for_a_number_of_attempts() -> None:
    policy = RetryPolicy(base=0.5, max_delay=30.0, horizon=3600)

    assert policy.retries(elapsed=3500.0, pause=30.0)
    assert not policy.retries(elapsed=3590.0, pause=30.0)


def test_by_default_a_notification_is_retried_for_hours() -> None:
    policy = RetryPolicy()

    assert policy.horizon >= 6 * 3600
    assert policy.retries(elapsed=5 * 3600, pause=policy.max_delay)


@pytest.mark.parametrize(("base", "ceiling", "horizon"), [(0, 1, 1), (2, 1, 1), (1, 2, -1)])
def test_a_retry_policy_that_cannot_work_is_refused(
    base: float, ceiling: float, horizon: float
) -> None:
    with pytest.raises(ValueError, match="notification retry"):
        RetryPolicy(base, ceiling, horizon)
