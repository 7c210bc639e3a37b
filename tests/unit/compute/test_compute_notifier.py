"""The notifier of one job, against an in-process receiver (``httpx.MockTransport``)."""

from __future__ import annotations

import json

import httpx
import structlog
from pipelinejobs.compute.local.notifier import JobNotifier, RetryPolicy

FAST = {"base": 0.001, "max_delay": 0.002}


def job(status: str) -> dict[str, str]:
    return {"id": "1-0001-local", "status": status}


async def deliver(notifier: JobNotifier, *statuses: str) -> None:
    for status in statuses:
        notifier.post(f"http://gateway.test/callback?status={status}", job(status))
    notifier.close()
    await notifier.wait()


async def test_a_long_outage_loses_no_status_and_each_failed_attempt_is_logged() -> None:
    seen: list[tuple[str, int]] = []
    outage = 40  # failed attempts: five times the eight tries notifications used to get

    def receiver(request: httpx.Request) -> httpx.Response:
        status = json.loads(request.content)["status"]
        code = 503 if len(seen) < outage else 200
        seen.append((status, code))
        if code == 503 and len(seen) % 2:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(code)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        notifier = JobNotifier("1-0001-local", http, RetryPolicy(**FAST, horizon=3600))
        with structlog.testing.capture_logs() as logs:
            await deliver(notifier, "PENDING", "RUNNING", "FINISHED")

    assert [status for status, code in seen if code == 200] == ["PENDING", "RUNNING", "FINISHED"]
    assert {status for status, _ in seen[:outage]} == {"PENDING"}
    assert (notifier.delivered, notifier.abandoned) == (3, 0)
    failures = [entry for entry in logs if entry["event"] == "job notification failed; retrying"]
    assert len(failures) == outage
    assert {entry["log_level"] for entry in failures} == {"warning"}


async def test_at_its_horizon_a_notification_is_given_up_and_the_next_one_is_sent() -> None:
    seen: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        status = json.loads(request.content)["status"]
        seen.append(status)
        return httpx.Response(503 if status == "PENDING" else 200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        notifier = JobNotifier("1-0001-local", http, RetryPolicy(**FAST, horizon=0.05))
        with structlog.testing.capture_logs() as logs:
            await deliver(notifier, "PENDING", "FINISHED")

    assert seen[-1] == "FINISHED"
    assert set(seen[:-1]) == {"PENDING"}
    assert len(seen) > 2  # PENDING was retried before it was given up
    assert (notifier.delivered, notifier.abandoned) == (1, 1)
    [abandoned] = [entry for entry in logs if "abandoned" in entry["event"]]
    assert (abandoned["log_level"], abandoned["status"]) == ("error", "PENDING")


async def test_a_refusal_is_not_retried() -> None:
    seen: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["status"])
        return httpx.Response(422 if len(seen) == 1 else 200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        notifier = JobNotifier("1-0001-local", http, RetryPolicy(**FAST, horizon=3600))
        await deliver(notifier, "PENDING", "RUNNING")

    assert seen == ["PENDING", "RUNNING"]
    assert (notifier.delivered, notifier.abandoned) == (1, 1)


async def test_each_notification_has_one_message_id_kept_across_its_retries() -> None:
    seen: list[tuple[str, str | None]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append((json.loads(request.content)["status"], request.headers.get("X-Message-Id")))
        # The first attempt of every notification fails as if the reply were lost.
        return httpx.Response(503 if len(seen) % 2 else 200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        notifier = JobNotifier("1-0001-local", http, RetryPolicy(**FAST, horizon=3600))
        await deliver(notifier, "RUNNING", "RUNNING", "FINISHED")

    assert [status for status, _ in seen] == ["RUNNING"] * 4 + ["FINISHED"] * 2
    ids = [message_id for _, message_id in seen]
    assert None not in ids
    assert (ids[0], ids[2], ids[4]) == (ids[1], ids[3], ids[5])  # a retry: the same id
    assert len({ids[0], ids[2], ids[4]}) == 3  # the same status twice: two notifications
