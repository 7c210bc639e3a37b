"""The local execution system end to end: real subprocesses, real storage, real HTTP callbacks
(what the port promises of every adapter is in ``tests/contract/compute``)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from compute_harness import ARCHIVE_SYSTEM, LocalSetup
from notification_receiver import DROP, NotificationReceiver
from pipelinejobs.compute.apps import TACOBOT_ID, WORDCOUNT_ID, install_example_inputs
from pipelinejobs.compute.factory import ComputeSettings, create_compute
from pipelinejobs.compute.local import LocalExecutionSystem
from pipelinejobs.compute.port import ComputeJob, ComputeRejected, ComputeUnavailable
from pipelinejobs.messages.schemas import registry
from pipelinejobs.settings import Settings
from pipelinejobs.storage.local import LocalStorage

GOOD_WALK = ["PENDING", "QUEUED", "RUNNING", "ARCHIVING", "FINISHED"]
TEXT = "The cat and the hat.\nThe end\n"
CALLBACK = (
    "/actors/v2/jobs-manager/messages?uuid=107abc&token=0dc73dc3ff39b49a&status=${JOB_STATUS}"
)
LIMIT = 60.0

FAILING_APP = {
    "id": "fail-1.0",
    "version": "1.0",
    "command": [
        "{python}",
        "-c",
        "import sys; print('working'); sys.stderr.write('no tortillas left\\n'); sys.exit(3)",
    ],
}
SLEEPING_APP = {
    "id": "sleep-1.0",
    "version": "1.0",
    "command": [
        "{python}",
        "-c",
        "import os, pathlib, time; "
        "pathlib.Path('pid').write_text(str(os.getpid())); time.sleep(600)",
    ],
}
ARGV_APP = {
    "id": "argv-1.0",
    "version": "1.0",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
    "command": [
        "{python}",
        "-c",
        "import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w'))",
        "{parameters[text]}",
        "{job_id}",
    ],
}
LINKING_APP = {
    "id": "link-1.0",
    "version": "1.0",
    "command": [
        "{python}",
        "-c",
        "import os; os.symlink('/etc/hostname', 'stolen.txt'); "
        "os.makedirs('sub'); open('sub/real.txt', 'w').write('mine')",
    ],
}
CRASHING_MODULE = "def explode(n: int) -> None:\n    raise RuntimeError(f'kaboom {n}')\n"
CRASHING_APP = {"id": "crash-1.0", "version": "1.0", "callable": "crashy:explode"}


def add_app(local: LocalSetup, manifest: dict[str, Any]) -> None:
    (local.apps_dir / f"{manifest['id']}.json").write_text(json.dumps(manifest))


def watched(receiver: NotificationReceiver, definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with one persistent notification on every status."""
    return {
        **definition,
        "notifications": [{"event": "*", "persistent": True, "url": receiver.url(CALLBACK)}],
    }


async def wordcount(local: LocalSetup, **changes: Any) -> dict[str, Any]:
    await local.storage.write_bytes(ARCHIVE_SYSTEM, "/uploads/words/a.txt", TEXT.encode())
    return {
        "appId": WORDCOUNT_ID,
        "name": "count words",
        "inputs": {"files": [f"agave://{ARCHIVE_SYSTEM}/uploads/words/a.txt"]},
        "parameters": {"min_length": 2},
        "archive": True,
        "archiveSystem": ARCHIVE_SYSTEM,
        "archivePath": "/products/v2/wordcount/run-1",
        **changes,
    }


async def ended(local: LocalSetup, job: ComputeJob) -> ComputeJob:
    async with asyncio.timeout(LIMIT):
        return await local.system.wait(job.id)


async def notified(local: LocalSetup, job: ComputeJob) -> None:
    async with asyncio.timeout(LIMIT):
        await local.system.wait_notified(job.id)


async def test_a_command_app_runs_and_reports_every_status_in_order(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    job = await local.system.submit(watched(receiver, await wordcount(local)))
    assert job.status == "PENDING"
    assert job.link == f"local://jobs/{job.id}"
    assert (await ended(local, job)).status == "FINISHED"
    await receiver.wait_for(5)

    assert [r.status for r in receiver.requests] == GOOD_WALK
    for request in receiver.requests:
        assert request.method == "POST"
        assert request.query["status"] == request.status  # ${JOB_STATUS} substituted
        assert request.query["token"] == "0dc73dc3ff39b49a"
        assert registry().is_valid(request.body, "agave_job_callback")
        assert request.body["id"] == job.id
        assert request.body["executionSystem"] == "local"
        assert request.body["archivePath"] == "/products/v2/wordcount/run-1"
        assert request.body["parameters"] == {"min_length": 2, "lowercase": True, "strict": False}
        assert "notifications" not in request.body  # receivers store the body; URLs hold tokens

    archived = await local.storage.list_files(ARCHIVE_SYSTEM, "/products/v2/wordcount/run-1")
    assert archived == [
        "/products/v2/wordcount/run-1/counts.csv",
        "/products/v2/wordcount/run-1/summary.json",
    ]
    counts = await local.storage.read_bytes(ARCHIVE_SYSTEM, archived[0])
    rows = list(csv.reader(io.StringIO(counts.decode())))
    assert rows == [
        ["word", "count"],
        ["the", "3"],
        ["and", "1"],
        ["cat", "1"],
        ["end", "1"],
        ["hat", "1"],
    ]
    summary = json.loads(await local.storage.read_bytes(ARCHIVE_SYSTEM, archived[1]))
    assert summary == {"files": ["a.txt"], "lines": 2, "words": 7, "distinct_words": 5}


async def test_the_documented_tacobot_job_runs_as_a_python_function(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    await install_example_inputs(local.storage)
    documented = {
        "appId": TACOBOT_ID,
        "name": "TACObot job",
        "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
        "parameters": {"salsa": True, "avocado": False, "cheese": True},
        "maxRunTime": "01:00:00",
        "archivePath": "/products/v2/tacobot/eligible-awk-20181127T173243Z",
    }
    job = await local.system.submit(watched(receiver, documented))
    assert (await ended(local, job)).status == "FINISHED"
    await receiver.wait_for(5)
    assert [r.status for r in receiver.requests] == GOOD_WALK
    assert receiver.requests[-1].body["archiveSystem"] == ARCHIVE_SYSTEM  # the default system

    tacos = json.loads(
        await local.storage.read_bytes(
            ARCHIVE_SYSTEM, "/products/v2/tacobot/eligible-awk-20181127T173243Z/tacos.json"
        )
    )
    assert tacos["note"] == "Two tacos for table 7, extra salsa"
    assert tacos["quantity"] == 1
    assert tacos["tacos"] == [{"number": 1, "toppings": ["salsa", "cheese"]}]


async def test_a_callable_apps_parameters_are_checked_against_its_signature(
    local: LocalSetup,
) -> None:
    with pytest.raises(ComputeRejected, match=r"parameters\.quantity: 0 is less than the minimum"):
        await local.system.submit(
            {"appId": TACOBOT_ID, "parameters": {"salsa": True, "cheese": True, "quantity": 0}}
        )
    with pytest.raises(ComputeRejected, match="'cheese' is a required property"):
        await local.system.submit({"appId": TACOBOT_ID, "parameters": {"salsa": True}})


async def test_a_failing_app_ends_failed_with_the_tail_of_its_stderr(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    add_app(local, FAILING_APP)
    definition = watched(receiver, {"appId": "fail-1.0", "name": "doomed"})
    definition["notifications"][0]["url"] += "&note=${JOB_ERROR}"
    job = await local.system.submit(definition)
    final = await ended(local, job)
    assert final.status == "FAILED"
    assert final.detail["lastStatusMessage"] == "app fail-1.0 exited with code 3: no tortillas left"
    await receiver.wait_for(4)
    assert [r.status for r in receiver.requests] == ["PENDING", "QUEUED", "RUNNING", "FAILED"]
    failed = receiver.requests[-1]
    assert failed.body["lastStatusMessage"] == "app fail-1.0 exited with code 3: no tortillas left"
    assert failed.query["note"] == "app fail-1.0 exited with code 3: no tortillas left"
    log = local.system.work_dir / job.id / "stdout.log"
    assert log.read_text() == "working\n"  # a failed job's folder is kept for inspection


async def test_a_crashing_python_function_ends_failed_with_its_exception(local: LocalSetup) -> None:
    (local.apps_dir / "crashy.py").write_text(CRASHING_MODULE)
    add_app(local, CRASHING_APP)
    job = await local.system.submit({"appId": "crash-1.0", "parameters": {"n": 7}})
    final = await ended(local, job)
    assert final.status == "FAILED"
    assert "exited with code 1" in final.detail["lastStatusMessage"]
    assert final.detail["lastStatusMessage"].endswith("RuntimeError: kaboom 7")


async def test_an_app_over_its_max_run_time_is_killed_and_fails(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    add_app(local, SLEEPING_APP)
    job = await local.system.submit(
        watched(receiver, {"appId": "sleep-1.0", "maxRunTime": "00:00:01"})
    )
    final = await ended(local, job)
    assert final.status == "FAILED"
    assert final.detail["lastStatusMessage"] == (
        "Job exceeded maxRunTime 00:00:01: app sleep-1.0 was killed"
    )
    pid = int((local.system.work_dir / job.id / "outputs" / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await receiver.wait_for(4)
    assert receiver.requests[-1].status == "FAILED"


async def test_cancel_kills_the_app_and_ends_the_job_stopped(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    add_app(local, SLEEPING_APP)
    job = await local.system.submit(watched(receiver, {"appId": "sleep-1.0"}))
    pid_file = local.system.work_dir / job.id / "outputs" / "pid"
    async with asyncio.timeout(LIMIT):
        while True:  # the app says it started by writing its pid
            if pid_file.exists() and pid_file.read_text():
                break
            await asyncio.sleep(0.05)
    assert (await local.system.status(job.id)).status == "RUNNING"

    await local.system.cancel(job.id)

    stopped = await local.system.status(job.id)
    assert (stopped.status, stopped.detail["lastStatusMessage"]) == (
        "STOPPED",
        "stopped by request",
    )
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    await receiver.wait_for(4)
    assert [r.status for r in receiver.requests] == ["PENDING", "QUEUED", "RUNNING", "STOPPED"]
    await local.system.cancel(job.id)  # an ended job is left as it is
    assert (await local.system.status(job.id)).status == "STOPPED"


async def test_closing_the_system_stops_its_running_jobs(local: LocalSetup) -> None:
    add_app(local, SLEEPING_APP)
    job = await local.system.submit({"appId": "sleep-1.0"})
    await local.system.close(grace=0.5)
    stopped = await local.system.status(job.id)
    assert stopped.status == "STOPPED"
    assert stopped.detail["lastStatusMessage"] == "the local execution system shut down"
    with pytest.raises(ComputeUnavailable, match="shut down"):
        await local.system.submit({"appId": "sleep-1.0"})


async def test_notifications_wait_for_a_receiver_that_is_down_and_arrive_in_order(
    local: LocalSetup,
) -> None:
    late = NotificationReceiver()  # its port is chosen, nothing listens yet
    first = await local.system.submit(watched(late, await wordcount(local)))
    second = await local.system.submit(
        watched(late, await wordcount(local, archivePath="/products/v2/wordcount/run-2"))
    )
    assert (await ended(local, first)).status == "FINISHED"
    assert (await ended(local, second)).status == "FINISHED"
    await late.start()
    try:
        await late.wait_for(10)
    finally:
        await late.stop()
    for job in (first, second):
        walk = [r.status for r in late.requests if r.body["id"] == job.id]
        assert walk == GOOD_WALK


async def test_a_failing_receiver_is_retried_before_the_next_status_is_sent(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    receiver.answers.extend([503, 502, 500])
    job = await local.system.submit(watched(receiver, await wordcount(local)))
    await ended(local, job)
    await receiver.wait_for(5)
    assert [r.status for r in receiver.requests] == ["PENDING"] * 4 + GOOD_WALK[1:]
    assert [r.answered for r in receiver.requests[:4]] == [503, 502, 500, 200]


async def test_a_receiver_refusing_a_notification_is_not_asked_again(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    receiver.answers.extend([400, 404, 200, 422, 200])
    job = await local.system.submit(watched(receiver, await wordcount(local)))
    await ended(local, job)
    await notified(local, job)
    assert [(r.status, r.answered) for r in receiver.requests] == [
        ("PENDING", 400),
        ("QUEUED", 404),
        ("RUNNING", 200),
        ("ARCHIVING", 422),
        ("FINISHED", 200),
    ]


async def test_non_persistent_notifications_fire_once_persistent_ones_every_time(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    definition = await wordcount(local)
    definition["notifications"] = [
        {"event": "*", "persistent": False, "url": receiver.url("/once?s=${STATUS}")},
        {"event": "FINISHED", "url": receiver.url("/done?s=${JOB_STATUS}")},
        {"event": "running", "persistent": True, "url": receiver.url("/running?id=${JOB_ID}")},
        {"event": "FAILED", "url": receiver.url("/failed")},
    ]
    job = await local.system.submit(definition)
    await ended(local, job)
    await notified(local, job)
    assert [r.target for r in receiver.requests] == [
        "/once?s=PENDING",
        f"/running?id={job.id}",
        "/done?s=FINISHED",
    ]


async def test_a_hostile_parameter_reaches_the_app_as_one_argument(local: LocalSetup) -> None:
    add_app(local, ARGV_APP)
    hostile = '"; rm -rf / ; echo $(id) `id` > /tmp/x'
    job = await local.system.submit(
        {"appId": "argv-1.0", "parameters": {"text": hostile}, "archivePath": "/products/argv"}
    )
    assert (await ended(local, job)).status == "FINISHED"
    argv = json.loads(await local.storage.read_bytes(ARCHIVE_SYSTEM, "/products/argv/argv.json"))
    assert argv == [hostile, job.id]


async def test_symbolic_links_among_outputs_are_not_archived(local: LocalSetup) -> None:
    add_app(local, LINKING_APP)
    job = await local.system.submit({"appId": "link-1.0", "archivePath": "/products/links"})
    final = await ended(local, job)
    assert final.status == "FINISHED"
    assert await local.storage.list_files(ARCHIVE_SYSTEM, "/products/links") == [
        "/products/links/sub/real.txt"
    ]
    assert not (local.system.work_dir / job.id).exists()  # an archived job's folder is removed


async def test_a_missing_input_fails_the_job_naming_it(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    definition = await wordcount(local)
    definition["inputs"] = {"files": [f"agave://{ARCHIVE_SYSTEM}/uploads/none.txt"]}
    job = await local.system.submit(watched(receiver, definition))
    final = await ended(local, job)
    assert final.status == "FAILED"
    assert (
        "staging inputs.files (agave://data-sd2e-community/uploads/none.txt) failed"
        in (final.detail["lastStatusMessage"])
    )


async def test_without_archive_the_job_finishes_without_archiving(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    job = await local.system.submit(watched(receiver, await wordcount(local, archive=False)))
    assert (await ended(local, job)).status == "FINISHED"
    await receiver.wait_for(4)
    assert [r.status for r in receiver.requests] == ["PENDING", "QUEUED", "RUNNING", "FINISHED"]
    assert await local.storage.list_files(ARCHIVE_SYSTEM, "/products/v2/wordcount/run-1") == []
    assert (local.system.work_dir / job.id / "outputs" / "counts.csv").is_file()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"appId": "ghost-1.0"}, "appId 'ghost-1.0' is not an app .*registered apps: .*wordcount"),
        ({"parameters": {"min_length": "2"}}, r"parameters\.min_length: '2' is not of type"),
        ({"parameters": {"colour": "red"}}, "Additional properties are not allowed"),
        ({"inputs": {"files": "https://example.org/a.txt"}}, "does not fetch inputs"),
        ({"inputs": {}}, r"inputs\.files is required"),
        ({"maxRunTime": "1:00"}, "maxRunTime '1:00' is not accepted"),
        ({"archivePath": "/products/../../etc"}, "archivePath"),
    ],
)
async def test_an_invalid_definition_is_rejected_before_anything_runs(
    local: LocalSetup, receiver: NotificationReceiver, changes: dict[str, Any], reason: str
) -> None:
    definition = watched(receiver, await wordcount(local, **changes))
    with pytest.raises(ComputeRejected, match=reason):
        await local.system.submit(definition)
    assert list(local.system.work_dir.iterdir()) == []
    assert receiver.requests == []


async def test_the_example_apps_are_installed(local: LocalSetup) -> None:
    assert await local.system.app_exists(WORDCOUNT_ID)
    assert await local.system.app_exists(TACOBOT_ID)


async def test_a_callable_app_must_take_its_inputs_as_parameters(local: LocalSetup) -> None:
    (local.apps_dir / "crashy.py").write_text(CRASHING_MODULE)
    add_app(local, {**CRASHING_APP, "inputs": {"file1": {}}})
    assert not await local.system.app_exists("crash-1.0")
    assert (
        "input 'file1' is not a parameter of crashy:explode"
        in (local.system.registry.problems["crash-1.0.json"])
    )


async def test_apps_never_see_the_servers_settings(
    local: LocalSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINEJOBS_ADMIN_KEY", "very-secret-admin-key")
    add_app(
        local,
        {
            "id": "env-1.0",
            "version": "1.0",
            "command": [
                "{python}",
                "-c",
                "import json, os; json.dump(dict(os.environ), open('env.json', 'w'))",
            ],
        },
    )
    job = await local.system.submit({"appId": "env-1.0", "archivePath": "/products/env"})
    assert (await ended(local, job)).status == "FINISHED"
    seen = json.loads(await local.storage.read_bytes(ARCHIVE_SYSTEM, "/products/env/env.json"))
    assert not [name for name in seen if name.startswith("PIPELINEJOBS_")]
    assert (seen["AGAVE_JOB_ID"], seen["AGAVE_JOB_APP_ID"]) == (job.id, "env-1.0")


async def test_a_gateway_down_longer_than_the_old_retry_count_still_gets_every_status(
    tmp_path: Path, receiver: NotificationReceiver
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    options = ComputeSettings(  # the defaults, only with short pauses
        compute_url=None, notify_retry_base_delay=0.01, notify_retry_max_delay=0.02
    )
    system = create_compute(
        Settings(data_dir=tmp_path, archive_system=ARCHIVE_SYSTEM), storage, options
    )
    assert isinstance(system, LocalExecutionSystem)
    await system.start()
    outage = 30  # refused connections and 503s: the notifier used to give up after 8 tries
    receiver.answers.extend([DROP, 503] * (outage // 2))
    try:
        await storage.write_bytes(ARCHIVE_SYSTEM, "/uploads/words/a.txt", TEXT.encode())
        definition = {
            "appId": WORDCOUNT_ID,
            "inputs": {"files": [f"agave://{ARCHIVE_SYSTEM}/uploads/words/a.txt"]},
            "archivePath": "/products/v2/wordcount/outage",
        }
        job = await system.submit(watched(receiver, definition))
        async with asyncio.timeout(LIMIT):
            await system.wait_notified(job.id)
    finally:
        await system.close(grace=1.0)

    assert [r.status for r in receiver.delivered] == GOOD_WALK
    assert {r.status for r in receiver.requests[:outage]} == {"PENDING"}


async def test_strict_wordcount_on_a_file_that_is_not_text_fails_in_the_app_saying_why(
    local: LocalSetup, receiver: NotificationReceiver
) -> None:
    await install_example_inputs(local.storage)
    definition = {
        "appId": WORDCOUNT_ID,
        "inputs": {"files": [f"agave://{ARCHIVE_SYSTEM}/examples/wordcount/tacos.png"]},
        "parameters": {"strict": True},
    }

    job = await local.system.submit(watched(receiver, definition))
    final = await ended(local, job)

    assert final.status == "FAILED"
    assert final.detail["lastStatusMessage"] == (
        "app wordcount-0.1.0 exited with code 1: wordcount: tacos.png is not UTF-8 text (byte "
        "0x89 at offset 0: invalid start byte); give text files, or strict=false to count the "
        "words around bytes that cannot be decoded"
    )
    await receiver.wait_for(4)
    assert [r.status for r in receiver.requests] == ["PENDING", "QUEUED", "RUNNING", "FAILED"]


async def test_without_strict_wordcount_counts_around_what_is_not_text(local: LocalSetup) -> None:
    await install_example_inputs(local.storage)
    definition = {
        "appId": WORDCOUNT_ID,
        "inputs": {"files": [f"agave://{ARCHIVE_SYSTEM}/examples/wordcount/tacos.png"]},
        "archivePath": "/products/v2/wordcount/png",
    }

    job = await local.system.submit(definition)

    assert (await ended(local, job)).status == "FINISHED"
    summary = await local.storage.read_bytes(
        ARCHIVE_SYSTEM, "/products/v2/wordcount/png/summary.json"
    )
    assert json.loads(summary)["words"] > 0  # PNG, IHDR
