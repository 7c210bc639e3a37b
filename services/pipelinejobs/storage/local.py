"""Storage on the local filesystem: storage system ``S`` is the directory ``<root>/S``.

Used by the embedded system and the local execution system. Every path is checked twice before
use: lexically (``normalize_archive_path``: absolute, no ``..``, no backslash, no NUL) and after
resolving symbolic links (``Path.resolve`` must stay inside the system's root), so neither a
crafted path nor a planted link reaches files outside it. Blocking file I/O runs in a worker
thread (``asyncio.to_thread``) so the event loop keeps serving other messages.

The checks cannot stop a link planted between check and use: the root is meant to be writable
only by this system and the jobs it runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from pipelinejobs.domain.agave_uri import require_system_name
from pipelinejobs.domain.archive import normalize_archive_path
from pipelinejobs.errors import Conflict, InvalidInput, NotFound
from pipelinejobs.storage.port import Storage


class LocalStorage(Storage):
    """Storage systems as directories under one root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def system_root(self, system: str) -> Path:
        """The directory backing storage system ``system``."""
        return self.root / require_system_name(system)

    def local_path(self, system: str, path: str) -> Path:
        """The local file for ``path`` on ``system``; ``InvalidInput`` if it would escape.

        Resolves symbolic links, so it touches the filesystem: call it in a worker thread.
        """
        return self._checked(system, path)[0]

    async def list_files(self, system: str, path: str) -> list[str]:
        return await asyncio.to_thread(self._list_files, system, path)

    async def make_dirs(self, system: str, path: str) -> None:
        await asyncio.to_thread(self._make_dirs, system, path)

    async def clear(self, system: str, path: str) -> None:
        await asyncio.to_thread(self._clear, system, path)

    async def write_bytes(self, system: str, path: str, content: bytes) -> None:
        await asyncio.to_thread(self._write_bytes, system, path, content)

    async def read_bytes(self, system: str, path: str) -> bytes:
        return await asyncio.to_thread(self._read_bytes, system, path)

    # -- blocking halves, run in a worker thread ---------------------------------------------
    def _checked(self, system: str, path: str) -> tuple[Path, str]:
        canonical = _canonical(system, path)
        system_root = self.system_root(system)
        local = system_root / canonical.lstrip("/")
        if not _is_inside(local, system_root):
            raise InvalidInput(
                f"path {canonical!r} on storage system {system!r} resolves outside the "
                "storage system (through a symbolic link, or a link loop); only paths inside it "
                "are accepted"
            )
        return local, canonical

    def _list_files(self, system: str, path: str) -> list[str]:
        local, canonical = self._checked(system, path)
        return _list_files(local, canonical, self.system_root(system))

    def _make_dirs(self, system: str, path: str) -> None:
        local, canonical = self._checked(system, path)
        _make_dirs(local, system, canonical)

    def _clear(self, system: str, path: str) -> None:
        local, canonical = self._checked(system, path)
        if canonical == "/":
            raise InvalidInput(
                f"path '/' on storage system {system!r} cannot be cleared; "
                "give a job's archive path such as /products/v2/..."
            )
        if local.exists() and not local.is_dir():
            raise Conflict(
                f"path {canonical!r} on storage system {system!r} is a file, "
                "not a directory to clear"
            )
        _make_dirs(local, system, canonical)
        for entry in local.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def _write_bytes(self, system: str, path: str, content: bytes) -> None:
        """Write a temporary file and rename it over the target, so readers never see half a
        file and a symbolic link at the target is replaced, not followed."""
        local, canonical = self._checked(system, path)
        if local.is_dir():
            raise Conflict(
                f"path {canonical!r} on storage system {system!r} is a directory, not a file"
            )
        _make_dirs(local.parent, system, canonical)
        handle, temporary = tempfile.mkstemp(dir=local.parent, prefix=".pipelinejobs-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
            os.replace(temporary, local)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _read_bytes(self, system: str, path: str) -> bytes:
        local, canonical = self._checked(system, path)
        try:
            return local.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no file {canonical!r} on storage system {system!r}") from None
        except IsADirectoryError:
            raise NotFound(
                f"path {canonical!r} on storage system {system!r} is a directory; expected a file"
            ) from None


def _canonical(system: str, path: str) -> str:
    require_system_name(system)
    try:
        return normalize_archive_path(path)
    except InvalidInput as exc:
        raise InvalidInput(f"on storage system {system!r}: {exc}") from None


def _is_inside(local: Path, system_root: Path) -> bool:
    """Whether ``local`` stays inside ``system_root`` once links are resolved; a link loop
    counts as outside."""
    try:
        return local.resolve().is_relative_to(system_root.resolve())
    except (RuntimeError, OSError):
        return False


def _listable(canonical: str) -> bool:
    """Whether a listed path is one this adapter accepts back (and can be stored as JSON)."""
    try:
        canonical.encode("utf-8")
        normalize_archive_path(canonical)
    except (UnicodeEncodeError, InvalidInput):
        return False
    return True


def _list_files(local: Path, canonical: str, system_root: Path) -> list[str]:
    """Regular files below ``local``; links count only if they resolve to a file inside the
    system, and linked directories are never descended (no escapes, no cycles)."""
    if local.is_file():
        return [canonical]
    if not local.is_dir():
        return []
    prefix = "" if canonical == "/" else canonical
    found: list[str] = []
    for directory, _subdirectories, names in os.walk(local, followlinks=False):
        relative = Path(directory).relative_to(local).as_posix()
        base = prefix if relative == "." else f"{prefix}/{relative}"
        for name in names:
            entry = Path(directory, name)
            if entry.is_symlink() and not _is_inside(entry, system_root):
                continue
            listed = f"{base}/{name}"
            if entry.is_file() and _listable(listed):
                found.append(listed)
    return sorted(found)


def _make_dirs(local: Path, system: str, path: str) -> None:
    try:
        local.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise Conflict(
            f"path {path!r} on storage system {system!r} runs through a file: a directory "
            "it needs exists as a file"
        ) from None
