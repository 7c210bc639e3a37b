"""The storage port: files under archive paths on named storage systems.

Paths are the Agave-canonical absolute paths (``/products/v2/...``) on a storage system named
like ``data-sd2e-community``; ``agave://<system><path>`` URIs name the same thing. Every adapter
resolves a path inside its system's root and refuses one that would escape it (``..``,
symbolic links pointing outside), with ``InvalidInput`` naming the path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Storage(ABC):
    @abstractmethod
    async def list_files(self, system: str, path: str) -> list[str]:
        """Every regular file below ``path`` (recursively), as absolute canonical paths, sorted.
        An archive path that does not exist yet lists as empty."""

    @abstractmethod
    async def make_dirs(self, system: str, path: str) -> None:
        """Create ``path`` and its parents (the job's archive path at setup)."""

    @abstractmethod
    async def clear(self, system: str, path: str) -> None:
        """Remove everything below ``path`` and keep the empty directory (job reset)."""

    @abstractmethod
    async def write_bytes(self, system: str, path: str, content: bytes) -> None:
        """Write one file, creating parent directories (outputs of the local execution system)."""

    @abstractmethod
    async def read_bytes(self, system: str, path: str) -> bytes:
        """Read one file; ``NotFound`` when missing (inputs the local execution system stages)."""
