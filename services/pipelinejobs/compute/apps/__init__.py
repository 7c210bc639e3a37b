"""Two example apps for the local execution system, used by the demo and the tests.

- ``wordcount-0.1.0``: a command app (a program with an argv interface) counting the words of
  its input files;
- ``tacobot9000-0.1.0u1``: a callable app (a Python function) named like the documentation's
  example, so the documented job definitions run as they are.

:func:`install_example_apps` writes their manifests into an apps folder;
:func:`install_example_inputs` puts the input files the documentation's examples name on the
storage systems, so a documented launch finds them.
"""

from __future__ import annotations

import json
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
}


def install_example_apps(apps_dir: Path) -> list[Path]:
    """Write the example apps' manifests into ``apps_dir``, replacing older copies (a file
    that is already current is left untouched, so the registry need not read it again)."""
    apps_dir = Path(apps_dir)
    apps_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, manifest in EXAMPLE_MANIFESTS.items():
        path = apps_dir / name
        text = json.dumps(manifest, indent=2) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


async def install_example_inputs(storage: Storage) -> list[str]:
    """Put the examples' input files on their storage systems; their ``agave://`` URIs."""
    uris: list[str] = []
    for (system, path), content in EXAMPLE_INPUTS.items():
        await storage.write_bytes(system, path, content)
        uris.append(f"agave://{system}{path}")
    return uris
