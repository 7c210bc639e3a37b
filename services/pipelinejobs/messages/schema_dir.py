"""Where the JSON Schema files are. The first of these, in this order:

1. ``$PIPELINEJOBS_SCHEMAS_DIR`` when it is set: an operator's explicit choice. It is never
   skipped: a set variable that names no directory is an error, not a reason to look elsewhere.
2. The source checkout's top-level ``schemas/`` (beside ``services/``): an editable install, or
   tests run from the repository, where an edited schema takes effect at once.
3. The installed copy: a wheel ships ``schemas/*.json`` as data files into
   ``<prefix>/share/pipelinejobs/schemas`` (``[tool.setuptools.data-files]`` in pyproject.toml).
   The installer's record of the distribution says where that prefix is (a virtualenv, the
   system, ``--user`` or ``--prefix``), so no guess is needed.

The top-level ``schemas/`` stays the single source; the wheel carries a copy of it, nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path

from pipelinejobs.errors import InvalidInput

SCHEMAS_DIR_ENV = "PIPELINEJOBS_SCHEMAS_DIR"
DISTRIBUTION = "pipelinejobs"
INSTALLED_SCHEMAS = ("share", "pipelinejobs", "schemas")
"""Where the wheel puts the schemas, relative to the installation prefix."""

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def schemas_dir() -> Path:
    """The directory holding the schema files, looked up in the order the module describes."""
    return locate_schemas_dir(
        os.environ.get(SCHEMAS_DIR_ENV), checkout_schemas_dir(), installed_schemas_dir
    )


def locate_schemas_dir(
    configured: str | None, checkout: Path | None, installed: Callable[[], Path | None]
) -> Path:
    """The first of ``configured`` (the environment), ``checkout`` and ``installed()`` that
    exists; ``installed`` is called only when the first two give nothing."""
    if configured:
        directory = Path(configured)
        if not directory.is_dir():
            raise InvalidInput(
                f"JSON Schema directory {directory} does not exist; set {SCHEMAS_DIR_ENV} to "
                "the directory holding pipeline_manager_create.json and the other schema files, "
                "or unset it to use the schemas installed with pipelinejobs"
            )
        return directory
    if checkout is not None and checkout.is_dir():
        return checkout
    found = installed()
    if found is not None and found.is_dir():
        return found
    raise InvalidInput(
        f"no JSON Schema directory found: {SCHEMAS_DIR_ENV} is not set, this is not a source "
        f"checkout with a schemas/ directory, and the installed {DISTRIBUTION} has no "
        f"{'/'.join(INSTALLED_SCHEMAS)}; reinstall {DISTRIBUTION} from its wheel, or set "
        f"{SCHEMAS_DIR_ENV} to the directory holding pipeline_manager_create.json and the "
        "other schema files"
    )


def checkout_schemas_dir(package_root: Path = _PACKAGE_ROOT) -> Path | None:
    """``<repository>/schemas`` when the package is imported from ``<repository>/services/``;
    ``None`` when it is imported from an installed location such as site-packages."""
    if package_root.parent.name != "services":
        return None
    return package_root.parent.parent / "schemas"


@cache
def installed_schemas_dir() -> Path | None:
    """The schemas installed with the distribution, or ``None`` if it is not installed."""
    try:
        distribution = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    return schemas_in(distribution)


def schemas_in(distribution: metadata.Distribution) -> Path | None:
    """The directory of the schema files a distribution's record lists, if it lists any."""
    for file in distribution.files or ():
        if file.suffix == ".json" and tuple(file.parts[-4:-1]) == INSTALLED_SCHEMAS:
            return Path(str(distribution.locate_file(file))).resolve().parent
    return None
