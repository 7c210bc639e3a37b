"""What users look for, through the CLI against a running ``pipelinejobs up`` (its demo catalog,
pipeline and local execution system): the catalog tree, files with their jobs, a job followed
as it runs, tables that keep UUIDs whole at 80 columns, and the compute service's own records
in a job's history.

Client commands run in process (typer's ``CliRunner``) with an 80-column console
(``COLUMNS=80``); ``jobs follow`` runs as a subprocess, so its lines can be read while the job
moves on.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pipelinejobs.cli.main import app
from pipelinejobs.client.sync import Gateway, JobsClient, ManagedPipelineJob
from pipelinejobs.domain.identifiers import UUIDType, typed_uuid
from pipelinejobs_up import UpProcess, clean_environment, command, start_up
from typer.testing import CliRunner, Result

WIDTH = 80
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FOLLOW_LIMIT = 60.0


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = start_up(tmp_path_factory.mktemp("cli-reading") / "data")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def cli(up: UpProcess) -> CliRunner:
    return CliRunner(
        env={
            "PIPELINEJOBS_URL": up.url,
            "PIPELINEJOBS_DATA_DIR": str(up.data_dir),
            "PIPELINEJOBS_TOKEN": None,
            "PIPELINEJOBS_AMQP_URL": None,
            "COLUMNS": str(WIDTH),
        }
    )


@pytest.fixture(scope="module")
def demo_job(up: UpProcess) -> dict[str, Any]:
    """The demo's job, launched on the local execution system, FINISHED and indexed."""
    runner = CliRunner(
        env={
            "PIPELINEJOBS_URL": up.url,
            "PIPELINEJOBS_DATA_DIR": str(up.data_dir),
            "PIPELINEJOBS_TOKEN": None,
        }
    )
    job: dict[str, Any] = as_json(runner.invoke(app, ["demo", "--json"]))
    assert job["state"] == "FINISHED"
    return job


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, list(args))


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def whole_uuids(output: str) -> set[str]:
    """The UUIDs that stand whole on a line of ``output``."""
    return {match for line in output.splitlines() for match in UUID.findall(line)}


def assert_fits(output: str) -> None:
    too_long = [line for line in output.splitlines() if len(line) > WIDTH]
    assert not too_long, too_long


def demo_pipeline(cli: CliRunner) -> str:
    pipelines = as_json(run(cli, "pipelines", "list", "--json"))["items"]
    [demo] = [p for p in pipelines if p["name"] == "PipelineJobs demo: example apps"]
    return str(demo["uuid"])


# -- help ---------------------------------------------------------------------------------------
def test_help_lists_the_reading_commands(cli: CliRunner) -> None:
    top = run(cli, "--help")
    assert top.exit_code == 0
    assert re.search(r"│ files +\S", top.stdout)
    for group, subcommands in {
        "catalog": ["load", "list", "show"],
        "files": ["list", "show"],
        "jobs": ["follow"],
    }.items():
        listing = run(cli, group, "--help")
        assert listing.exit_code == 0
        for subcommand in subcommands:
            assert re.search(rf"│ {subcommand} +\S", listing.stdout), (group, subcommand)


# -- catalog ------------------------------------------------------------------------------------
def test_catalog_list_prints_the_tree_with_each_typed_uuid(cli: CliRunner) -> None:
    result = run(cli, "catalog", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    records = [
        ("experiment", "experiment.tacc.10001", UUIDType.EXPERIMENT),
        ("sample", "sample.tacc.20001", UUIDType.SAMPLE),
        ("measurement", "measurement.tacc.3456", UUIDType.MEASUREMENT),
        ("sample", "sample.tacc.abcde", UUIDType.SAMPLE),
        ("measurement", "measurement.tacc.1234", UUIDType.MEASUREMENT),
        ("measurement", "measurement.tacc.2345", UUIDType.MEASUREMENT),
    ]
    positions = []
    for record_type, text_id, kind in records:
        [label] = [n for n, line in enumerate(lines) if f"{record_type} {text_id}" in line]
        assert typed_uuid(text_id, kind) in lines[label + 1], lines[label : label + 2]
        positions.append(label)
        indent = len(lines[label]) - len(lines[label].lstrip("│├└─ "))
        assert indent == {"experiment": 0, "sample": 4, "measurement": 8}[record_type]
    assert positions == sorted(positions)
    assert "Breakfast taco assembly" in result.stdout
    assert_fits(result.stdout)


def test_catalog_list_as_json_nests_samples_and_measurements(cli: CliRunner) -> None:
    page = as_json(run(cli, "catalog", "list", "--json"))

    [experiment] = page["items"]
    assert experiment["id"] == "experiment.tacc.10001"
    samples = {s["id"]: s for s in experiment["children"]}
    assert set(samples) == {"sample.tacc.abcde", "sample.tacc.20001"}
    measurements = [m["id"] for m in samples["sample.tacc.abcde"]["children"]]
    assert measurements == ["measurement.tacc.1234", "measurement.tacc.2345"]


def test_catalog_show_resolves_a_derived_from_uuid(cli: CliRunner) -> None:
    measurement = typed_uuid("measurement.tacc.2345", UUIDType.MEASUREMENT)

    result = run(cli, "catalog", "show", measurement)
    shown = as_json(run(cli, "catalog", "show", measurement, "--json"))
    sample = as_json(run(cli, "catalog", "show", "sample.tacc.20001", "--json"))

    assert result.exit_code == 0, result.output
    assert "experiment experiment.tacc.10001" in result.stdout
    assert "sample sample.tacc.abcde" in result.stdout
    assert "measurement measurement.tacc.2345  Crunch" in result.stdout
    assert "measurement.tacc.1234" not in result.stdout
    assert "experiment_design NovelChassis-NAND-Gate" in result.stdout
    assert whole_uuids(result.stdout) == {
        typed_uuid("NovelChassis-NAND-Gate", UUIDType.EXPERIMENT_DESIGN),
        typed_uuid("experiment.tacc.10001", UUIDType.EXPERIMENT),
        typed_uuid("sample.tacc.abcde", UUIDType.SAMPLE),
        measurement,
    }
    assert [a["id"] for a in shown["ancestors"]] == [
        "NovelChassis-NAND-Gate",
        "experiment.tacc.10001",
        "sample.tacc.abcde",
    ]
    assert (shown["id"], shown["children"]) == ("measurement.tacc.2345", [])
    assert [m["id"] for m in sample["children"]] == ["measurement.tacc.3456"]


def test_catalog_show_of_an_unknown_record_exits_1_with_the_reason(cli: CliRunner) -> None:
    result = run(cli, "catalog", "show", "sample.tacc.nothing")

    assert result.exit_code == 1
    assert "HTTP 404" in result.output
    assert "no catalog record 'sample.tacc.nothing'" in result.output


# -- files --------------------------------------------------------------------------------------
def test_files_list_and_show_with_the_jobs_that_generated_them(
    cli: CliRunner, demo_job: dict[str, Any]
) -> None:
    job = demo_job["uuid"]
    listed = as_json(run(cli, "files", "list", "--job", job, "--json"))["items"]
    assert listed
    name = listed[0]["name"]

    table = run(cli, "files", "list", "--job", job)
    named = as_json(run(cli, "files", "list", "--name", name, "--json"))["items"]
    by_name = run(cli, "files", "show", name)
    by_uuid = as_json(run(cli, "files", "show", listed[0]["uuid"], "--json"))

    assert table.exit_code == 0, table.output
    assert job in whole_uuids(table.stdout)
    assert_fits(table.stdout)
    assert [f["uuid"] for f in named] == [listed[0]["uuid"]]
    assert by_name.exit_code == 0, by_name.output
    assert job in whole_uuids(by_name.stdout)
    assert "FINISHED" in by_name.stdout
    assert_fits(by_name.stdout)
    assert by_uuid["name"] == name
    assert [(j["uuid"], j["state"]) for j in by_uuid["jobs"]] == [(job, "FINISHED")]


def test_files_show_of_an_unknown_name_exits_1(cli: CliRunner) -> None:
    result = run(cli, "files", "show", "/products/v2/nothing/here.txt")

    assert result.exit_code == 1
    assert "no file named '/products/v2/nothing/here.txt'" in result.output


# -- tables at 80 columns -------------------------------------------------------------------------
def test_tables_keep_every_uuid_whole_at_80_columns(
    cli: CliRunner, demo_job: dict[str, Any]
) -> None:
    jobs = as_json(run(cli, "jobs", "list", "--json"))["items"]
    pipelines = as_json(run(cli, "pipelines", "list", "--json"))["items"]

    jobs_table = run(cli, "jobs", "list")
    pipelines_table = run(cli, "pipelines", "list")
    history = run(cli, "jobs", "history", demo_job["uuid"])

    expected = {j["uuid"] for j in jobs} | {j["pipeline_uuid"] for j in jobs}
    assert expected <= whole_uuids(jobs_table.stdout), jobs_table.stdout
    assert {p["uuid"] for p in pipelines} <= whole_uuids(pipelines_table.stdout)
    assert demo_job["uuid"] in whole_uuids(history.stdout)
    for result in (jobs_table, pipelines_table):
        assert result.exit_code == 0, result.output
        assert_fits(result.stdout)


# -- compute callbacks --------------------------------------------------------------------------
def test_compute_callbacks_keep_the_local_execution_systems_record(
    demo_job: dict[str, Any],
) -> None:
    """Each status the local execution system reported is its job record in the event's data,
    as the documentation's job life cycle shows for run and finish."""
    from_compute = [e for e in demo_job["history"] if "lastUpdated" in (e.get("data") or {})]
    names = [e["name"] for e in from_compute]
    assert "run" in names
    assert "finish" in names
    for event in from_compute:
        data = event["data"]
        assert {"id", "status", "appId", "archivePath", "archiveSystem", "lastUpdated"} <= set(data)
        assert data["archivePath"] == demo_job["archive_path"]
        assert "_links" not in data
    finish = [e["data"] for e in from_compute if e["name"] == "finish"][-1]
    assert finish["status"] == "FINISHED"
    text = json.dumps(demo_job["history"])
    assert "x-nonce=" not in text.replace("x-nonce=[REDACTED]", "")


# -- jobs follow --------------------------------------------------------------------------------
class Follower:
    """``pipelinejobs jobs follow`` as a subprocess; its stdout lines as they come."""

    def __init__(self, up: UpProcess, *args: str) -> None:
        environment = clean_environment(
            PIPELINEJOBS_URL=up.url, PIPELINEJOBS_TOKEN=up.token, COLUMNS=str(WIDTH)
        )
        self.process = subprocess.Popen(
            [*command(), "jobs", "follow", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, event: str) -> None:
        """Until a line for ``event`` has been printed."""
        deadline = time.monotonic() + FOLLOW_LIMIT
        while not any(line.split()[1:2] == [event] for line in self.lines if line.strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {event} line: {self.lines}")
            time.sleep(0.05)

    def finish(self) -> tuple[int, str]:
        """The exit code and stderr, once it exits by itself."""
        code = self.process.wait(FOLLOW_LIMIT)
        self._reader.join(5)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


@pytest.fixture
def gateway(up: UpProcess) -> Iterator[Gateway]:
    with Gateway(up.url, token=up.token) as gateway:
        yield gateway


def test_jobs_follow_prints_each_event_as_recorded_and_exits_0_once_finished(
    up: UpProcess, cli: CliRunner, gateway: Gateway
) -> None:
    job = ManagedPipelineJob(
        gateway, demo_pipeline(cli), measurement_id="measurement.tacc.1234", data={"f": 1}
    )
    job.setup()
    assert job.uuid is not None
    follower = Follower(up, job.uuid, "--interval", "0.2")

    follower.wait_for("create")
    job.run({"step": "one"})
    follower.wait_for("run")
    printed_before_finish = len(follower.lines)
    job.finish()
    code, stderr = follower.finish()

    assert code == 0, (follower.lines, stderr)
    events = [line.split()[1] for line in follower.lines]
    assert events[:3] == ["create", "run", "finish"]
    assert printed_before_finish == 2
    assert events == [e["name"] for e in JobsClient(gateway).history(job.uuid)]
    assert "is FINISHED" in stderr


def test_jobs_follow_exits_1_when_the_job_fails_and_json_lines_are_events(
    up: UpProcess, cli: CliRunner, gateway: Gateway
) -> None:
    job = ManagedPipelineJob(
        gateway, demo_pipeline(cli), measurement_id="measurement.tacc.1234", data={"f": 2}
    )
    job.setup()
    assert job.uuid is not None
    job.fail({"reason": "out of salsa"})

    result = run(cli, "jobs", "follow", job.uuid, "--json")

    assert result.exit_code == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["name"] for e in events] == ["create", "fail"]
    assert events[-1]["data"] == {"reason": "out of salsa"}
    assert "is FAILED" in result.output


def test_jobs_follow_gives_up_after_its_timeout_with_exit_1(
    cli: CliRunner, gateway: Gateway
) -> None:
    job = ManagedPipelineJob(
        gateway, demo_pipeline(cli), measurement_id="measurement.tacc.1234", data={"f": 3}
    )
    job.setup()
    assert job.uuid is not None

    result = run(cli, "jobs", "follow", job.uuid, "--timeout", "0.5", "--interval", "0.1")

    assert result.exit_code == 1
    assert "create" in result.stdout
    assert f"job {job.uuid} is still CREATED after 0.5 s" in " ".join(result.output.split())
