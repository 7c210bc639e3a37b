"""The compute-service port's contract, run on every adapter (the Agave client, the local
execution system): submit, status, cancel, notifications, and refusals that say what was wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from compute_backends import ARCHIVE_SYSTEM, QUICK_APP, SLEEPING_APP, ComputeBackend
from notification_receiver import NotificationReceiver
from pipelinejobs.compute.port import ComputeRejected, ComputeUnavailable
from pipelinejobs.messages.schemas import registry

WALK = ["PENDING", "QUEUED", "RUNNING", "ARCHIVING", "FINISHED"]
CALLBACK = "/actors/v2/jobs-manager/messages?uuid=107abc&status=${JOB_STATUS}&id=${JOB_ID}"


def definition(app_id: str, receiver: NotificationReceiver | None = None) -> dict[str, Any]:
    """An Agave job definition, with one persistent notification on every status."""
    document: dict[str, Any] = {
        "appId": app_id,
        "name": f"contract {app_id}",
        "inputs": {},
        "parameters": {},
        "archive": True,
        "archiveSystem": ARCHIVE_SYSTEM,
        "archivePath": "/products/v2/contract/run-1",
    }
    if receiver is not None:
        document["notifications"] = [
            {"event": "*", "persistent": True, "url": receiver.url(CALLBACK)}
        ]
    return document


async def test_submit_accepts_the_job_and_status_reads_it_back(compute: ComputeBackend) -> None:
    job = await compute.service.submit(definition(QUICK_APP))

    assert job.id
    assert job.status == "PENDING"
    assert job.link
    current = await compute.service.status(job.id)
    assert (current.id, current.link) == (job.id, job.link)


async def test_status_follows_the_job_to_its_end(compute: ComputeBackend) -> None:
    job = await compute.service.submit(definition(QUICK_APP))

    await compute.until_ended(job.id)

    assert (await compute.service.status(job.id)).status == "FINISHED"


async def test_notifications_report_every_status_in_order_with_the_job_body(
    compute: ComputeBackend, receiver: NotificationReceiver
) -> None:
    job = await compute.service.submit(definition(QUICK_APP, receiver))
    await compute.until_ended(job.id)
    await compute.until_notified(job.id)
    await receiver.wait_for(len(WALK))

    assert [request.status for request in receiver.requests] == WALK
    for request in receiver.requests:
        assert request.method == "POST"
        assert registry().is_valid(request.body, "agave_job_callback")
        assert request.body["id"] == job.id
        assert request.body["appId"] == QUICK_APP
        assert request.body["archivePath"] == "/products/v2/contract/run-1"
        assert request.query["status"] == request.status  # ${JOB_STATUS} filled in
        assert request.query["id"] == job.id  # ${JOB_ID} filled in
        assert "notifications" not in request.body  # the URLs hold tokens


async def test_cancel_stops_a_running_job_and_says_so(
    compute: ComputeBackend, receiver: NotificationReceiver
) -> None:
    job = await compute.service.submit(definition(SLEEPING_APP, receiver))
    await compute.until_running(job.id)

    await compute.service.cancel(job.id)

    assert (await compute.service.status(job.id)).status == "STOPPED"
    await compute.until_notified(job.id)
    await receiver.wait_for(4)
    assert [r.status for r in receiver.requests] == ["PENDING", "QUEUED", "RUNNING", "STOPPED"]


async def test_cancel_is_idempotent_and_leaves_an_ended_job_as_it_is(
    compute: ComputeBackend,
) -> None:
    stopped = await compute.service.submit(definition(SLEEPING_APP))
    await compute.until_running(stopped.id)
    await compute.service.cancel(stopped.id)
    finished = await compute.service.submit(definition(QUICK_APP))
    await compute.until_ended(finished.id)

    await compute.service.cancel(stopped.id)
    await compute.service.cancel(finished.id)

    assert (await compute.service.status(stopped.id)).status == "STOPPED"
    assert (await compute.service.status(finished.id)).status == "FINISHED"


async def test_apps_are_known_by_id(compute: ComputeBackend) -> None:
    assert await compute.service.app_exists(QUICK_APP) is True
    assert await compute.service.app_exists("ghost-1.0") is False


async def test_an_unknown_app_is_refused_naming_it(
    compute: ComputeBackend, receiver: NotificationReceiver
) -> None:
    with pytest.raises(ComputeRejected, match=r"ghost-1\.0"):
        await compute.service.submit(definition("ghost-1.0", receiver))
    assert receiver.requests == []


@pytest.mark.parametrize("action", ["status", "cancel"])
async def test_an_unknown_job_is_refused_naming_it(compute: ComputeBackend, action: str) -> None:
    with pytest.raises(ComputeRejected, match="no-such-job-42"):
        await getattr(compute.service, action)("no-such-job-42")


async def test_a_service_that_is_down_is_unavailable_so_callers_retry(
    compute: ComputeBackend,
) -> None:
    await compute.go_down()

    with pytest.raises(ComputeUnavailable):
        await compute.service.submit(definition(QUICK_APP))
