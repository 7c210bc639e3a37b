"""Two example apps for the local execution system, used by the demo and the tests.

- ``wordcount-0.1.0``: a command app (a program with an argv interface) counting the words of
  its input files; with ``"strict": true`` it fails, as an app does, on an input that is not
  text (the walkthrough's job that fails in its app);
- ``tacobot9000-0.1.0u1``: a callable app (a Python function) named like the documentation's
  example, so the documented job definitions run as they are.

:func:`install_example_apps` writes their manifests into an apps folder;
:func:`install_example_inputs` puts the input files the documentation's examples name on the
storage systems, so a documented launch finds them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipelinejobs.storage.port import Storage

WORDCOUNT_ID = "wordcount-0.1.0"
TACOBOT_ID = "tacobot9000-0.1.0u1"

EXAMPLE_MANIFESTS: dict[str, dict[str, Any]] = {
    "wordcount.json": {
        "id": WORDCOUNT_ID,
        "version": "0.1.0",
        "description": "Counts the words of text files; writes counts.csv and summary.json",
        "inputs": {
            "files": {"description": "text files to count", "required": True, "multiple": True}
        },
        "parameters": {
            "type": "object",
            "properties": {
                "min_length": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 1,
                    "description": "ignore words shorter than this",
                },
                "lowercase": {
                    "type": "boolean",
                    "default": True,
                    "description": "count words case-insensitively",
                },
                "strict": {
                    "type": "boolean",
                    "default": False,
                    "description": "fail (exit code 1, naming the file) on an input that is "
                    "not UTF-8 text, instead of counting the words of what can be decoded",
                },
            },
            "additionalProperties": False,
        },
        "command": [
            "{python}",
            "-m",
            "pipelinejobs.compute.apps.wordcount",
            "--min-length",
            "{parameters[min_length]}",
            "--lowercase",
            "{parameters[lowercase]}",
            "--strict",
            "{parameters[strict]}",
            "--",
            "{inputs[files]}",
        ],
        "defaultMaxRunTime": "00:10:00",
    },
    "tacobot.json": {
        "id": TACOBOT_ID,
        "version": "0.1.0u1",
        "description": "Makes tacos (the documentation's TACObot); writes tacos.json",
        "inputs": {"file1": {"description": "an order note (first line)", "required": False}},
        "callable": "pipelinejobs.compute.apps.tacobot:make_tacos",
        "defaultMaxRunTime": "00:10:00",
    },
}

EXAMPLE_INPUTS: dict[tuple[str, str], bytes] = {
    ("data.tacc.cloud", "/examples/tacobot/test1.txt"): b"Two tacos for table 7, extra salsa\n",
    ("data-sd2e-community", "/examples/wordcount/raven.txt"): (
        b"Once upon a midnight dreary, while I pondered, weak and weary,\n"
        b"Over many a quaint and curious volume of forgotten lore\n"
    ),
    # Not text: the start of a PNG file, for a wordcount job with "strict" to fail on.
    ("data-sd2e-community", "/examples/wordcount/tacos.png"): (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    ),
}


def install_example_apps(apps_dir: Path) -> list[Path]:
    """Write the example apps' manifests into ``apps_dir``, replacing older copies (a file
    that is already current is left untouched, so the registry need not read it again).

    Each file is replaced in one step (written beside it, then renamed), so several processes
    installing into one apps folder, and the registries reading it, never see half a manifest.
    """
    apps_dir = Path(apps_dir)
    apps_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, manifest in EXAMPLE_MANIFESTS.items():
        path = apps_dir / name
        text = json.dumps(manifest, indent=2) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            _replace(path, text)
        written.append(path)
    return written


def _replace(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


async def install_example_inputs(storage: Storage) -> list[str]:
    """Put the examples' input files on their storage systems; their ``agave://`` URIs."""
    uris: list[str] = []
    for (system, path), content in EXAMPLE_INPUTS.items():
        await storage.write_bytes(system, path, content)
        uris.append(f"agave://{system}{path}")
    return uris
