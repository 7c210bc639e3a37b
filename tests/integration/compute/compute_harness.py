"""What the compute tests share (a module of its own: ``conftest`` is not importable by name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelinejobs.compute.local import LocalExecutionSystem
from pipelinejobs.storage.local import LocalStorage

ARCHIVE_SYSTEM = "data-sd2e-community"


@dataclass
class LocalSetup:
    """A started local execution system, its storage and its apps folder."""

    system: LocalExecutionSystem
    storage: LocalStorage
    apps_dir: Path
