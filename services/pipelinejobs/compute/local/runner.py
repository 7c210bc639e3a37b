"""What running one local job takes: a work folder, staged inputs, the argv, archived outputs.

Layout of a job's work folder ``<work_dir>/<job id>/``: ``inputs/<input name>/<file>`` (staged
from storage), ``outputs/`` (the app's working directory; everything it writes there is
archived), ``stdout.log`` and ``stderr.log``. Inputs and logs are not archived, so the indexer
links only what the app produced. Symbolic links among the outputs are skipped: an app cannot
make the system copy a file from outside its folder into the archive.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipelinejobs.compute.local.definition import InputFile
from pipelinejobs.compute.local.registry import RUN_CALLABLE, App
from pipelinejobs.compute.local.templates import CommandValues, render_command
from pipelinejobs.errors import PermanentError, PipelineJobsError
from pipelinejobs.storage.port import Storage


class StagingFailed(PermanentError):
    """An input could not be copied from its storage system into the job's folder."""


@dataclass(frozen=True)
class Workspace:
    """The work folder of one job."""

    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"

    def create(self) -> None:
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.outputs.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class StagedInput:
    """Where one input file is copied before the app starts."""

    name: str
    file: InputFile
    local: Path


def plan_inputs(
    inputs: Mapping[str, Sequence[InputFile]], workspace: Workspace
) -> list[StagedInput]:
    """Local paths for every input file: ``inputs/<name>/<file name>`` (numbered on clashes)."""
    staged: list[StagedInput] = []
    for name, files in inputs.items():
        used: set[str] = set()
        for index, file in enumerate(files):
            base = PurePosixPath(file.path).name
            if base in used:
                base = f"{index}-{base}"
            used.add(base)
            staged.append(StagedInput(name, file, workspace.inputs / name / base))
    return staged


def job_argv(
    app: App,
    *,
    job_id: str,
    job_name: str,
    parameters: Mapping[str, object],
    staged: Sequence[StagedInput],
    workspace: Workspace,
    python: str,
) -> list[str]:
    """The argv of the app for one job (``InvalidInput`` if its template cannot be filled)."""
    paths: dict[str, list[str]] = {}
    for item in staged:
        paths.setdefault(item.name, []).append(str(item.local))
    if app.kind == "command":
        values = CommandValues(
            python=python,
            app_dir=str(app.app_dir),
            outdir=str(workspace.outputs),
            job_id=job_id,
            job_name=job_name,
            parameters=parameters,
            inputs=paths,
        )
        return render_command(app.command, values)
    assert app.target is not None
    arguments: dict[str, object] = dict(parameters)
    for name, spec in app.inputs.items():
        if name in paths:
            arguments[name] = paths[name] if spec.multiple else paths[name][0]
    return [python, "-m", RUN_CALLABLE, app.target, json.dumps(arguments), str(workspace.outputs)]


async def stage_inputs(storage: Storage, staged: Sequence[StagedInput]) -> None:
    """Copy every input from its storage system into the work folder."""
    for item in staged:
        try:
            content = await storage.read_bytes(item.file.system, item.file.path)
        except PipelineJobsError as exc:
            raise StagingFailed(
                f"staging inputs.{item.name} ({item.file.uri}) failed: {exc}"
            ) from exc
        await asyncio.to_thread(_write_file, item.local, content)


async def archive_outputs(storage: Storage, outputs: Path, system: str, path: str) -> list[str]:
    """Copy the app's outputs to ``path`` on ``system``; the archived paths, sorted."""
    await storage.make_dirs(system, path)
    archived: list[str] = []
    prefix = "" if path == "/" else path
    for relative in await asyncio.to_thread(output_files, outputs):
        content = await asyncio.to_thread((outputs / relative).read_bytes)
        target = f"{prefix}/{relative}"
        await storage.write_bytes(system, target, content)
        archived.append(target)
    return archived


def output_files(outputs: Path) -> list[str]:
    """Regular files below ``outputs`` as relative POSIX paths; symbolic links skipped."""
    found: list[str] = []
    for directory, _subdirectories, names in os.walk(outputs, followlinks=False):
        for name in names:
            entry = Path(directory, name)
            if not entry.is_symlink() and entry.is_file():
                found.append(entry.relative_to(outputs).as_posix())
    return sorted(found)


def _write_file(local: Path, content: bytes) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(content)
