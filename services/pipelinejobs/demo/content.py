"""The demo's documents: a small catalog, the pipeline of the example apps, and launches.

Names follow the documentation's examples (``sample.tacc.abcde`` with measurements
``measurement.tacc.1234`` and ``measurement.tacc.2345``, the TACObot job definition), so its
snippets run against a fresh ``pipelinejobs up`` as written.
"""

from __future__ import annotations

from typing import Any

from pipelinejobs.compute.apps import TACOBOT_ID, WORDCOUNT_ID

DEMO_SAMPLE = "sample.tacc.abcde"
DEMO_PROCESSING_LEVEL = "2"

DEMO_CATALOG: dict[str, list[dict[str, Any]]] = {
    "experiment_designs": [
        {"id": "NovelChassis-NAND-Gate", "title": "Novel chassis NAND gate"},
    ],
    "experiments": [
        {
            "id": "experiment.tacc.10001",
            "title": "Breakfast taco assembly",
            "experiment_design": "NovelChassis-NAND-Gate",
        },
    ],
    "samples": [
        {"id": DEMO_SAMPLE, "title": "Salsa batch A", "experiment": "experiment.tacc.10001"},
        {
            "id": "sample.tacc.20001",
            "title": "Salsa batch B",
            "experiment": "experiment.tacc.10001",
        },
    ],
    "measurements": [
        {"id": "measurement.tacc.1234", "title": "Spice level", "sample": DEMO_SAMPLE},
        {"id": "measurement.tacc.2345", "title": "Crunch", "sample": DEMO_SAMPLE},
        {"id": "measurement.tacc.3456", "title": "Spice level", "sample": "sample.tacc.20001"},
    ],
}
"""One experiment, two samples, three measurements: enough for every kind of linkage."""

DEMO_PIPELINE: dict[str, Any] = {
    "name": "PipelineJobs demo: example apps",
    "description": "The local execution system's example apps, launched through the agave-proxy",
    "components": [
        {"id": TACOBOT_ID, "inputs": {}, "parameters": {}},
        {"id": WORDCOUNT_ID, "inputs": {}, "parameters": {}},
    ],
    "processing_levels": ["1", "2"],
    "collections_levels": ["sample", "measurement"],
    "accepts": ["*"],
    "produces": ["JSON", "CSV"],
}
"""Registered by ``pipelinejobs up``: the agave-proxy finds a job's pipeline by its app id."""

DOCUMENTED_PIPELINE: dict[str, Any] = {
    "name": "Tacobot 9001",
    "description": "Creates even better breakfast tacos out of silicon, ozone, and shredded GPUs",
    "components": [
        {"id": "e1LqaqMyqq4xB", "opts": {"cheese": True, "salsa": True, "eggs": False}},
        {"id": "bbq-brisket-0.5.0", "parameters": {"smoke": True, "quantity": 4}},
    ],
    "processing_levels": ["1"],
    "accepts": ["CSV"],
    "produces": ["PNG"],
}
"""The documentation's pipeline example, which the walkthrough registers and updates."""

UPDATED_DESCRIPTION = "Breakfast tacos, now with updates"
"""The description the walkthrough gives that pipeline with its update token."""

TACOBOT_JOB: dict[str, Any] = {
    "appId": TACOBOT_ID,
    "name": "TACObot job",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "parameters": {"salsa": True, "avocado": False, "cheese": True},
    "maxRunTime": "01:00:00",
}
"""The documentation's job definition; ``pipelinejobs up`` puts its input file in storage."""


def tacobot_launch(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The documentation's launch request, with its outputs indexed at level 2."""
    launch: dict[str, Any] = {
        "parameters": {"sample_id": DEMO_SAMPLE},
        "job_definition": TACOBOT_JOB,
        "processing_level": DEMO_PROCESSING_LEVEL,
    }
    if data:
        launch["data"] = data
    return launch


def failing_launch(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A wordcount job whose input file does not exist: it starts, then ends FAILED while
    staging its input (before the app runs)."""
    launch: dict[str, Any] = {
        "parameters": {"measurement_id": "measurement.tacc.3456"},
        "job_definition": {
            "appId": WORDCOUNT_ID,
            "name": "count the words of a missing file",
            "inputs": {"files": ["agave://data-sd2e-community/examples/wordcount/missing.txt"]},
            "parameters": {"min_length": 3},
        },
    }
    if data:
        launch["data"] = data
    return launch


def app_failing_launch(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A wordcount job the app itself fails: ``strict`` wordcount on a file that is not text
    exits 1, and its stderr becomes the job's failure reason."""
    launch: dict[str, Any] = {
        "parameters": {"measurement_id": "measurement.tacc.3456"},
        "job_definition": {
            "appId": WORDCOUNT_ID,
            "name": "count the words of a picture",
            "inputs": {"files": ["agave://data-sd2e-community/examples/wordcount/tacos.png"]},
            "parameters": {"strict": True},
        },
    }
    if data:
        launch["data"] = data
    return launch
