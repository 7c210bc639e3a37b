"""The local-filesystem storage adapter: layout, listing, and refusing every way out of the root."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pipelinejobs.errors import Conflict, InvalidInput, NotFound
from pipelinejobs.storage.local import LocalStorage

SYSTEM = "data-sd2e-community"
ARCHIVE = "/products/v2/106abc/PAVpwrwq/job1"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def system_dir(storage: LocalStorage) -> Path:
    return storage.root / SYSTEM


async def test_write_then_read_lands_under_the_system_directory(storage: LocalStorage) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/out/a.csv", b"x,y\n")
    assert (system_dir(storage) / ARCHIVE.lstrip("/") / "out" / "a.csv").read_bytes() == b"x,y\n"
    assert await storage.read_bytes(SYSTEM, f"{ARCHIVE}/out/a.csv") == b"x,y\n"


async def test_write_replaces_an_existing_file(storage: LocalStorage) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.txt", b"first")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.txt", b"second")
    assert await storage.read_bytes(SYSTEM, f"{ARCHIVE}/a.txt") == b"second"
    assert await storage.list_files(SYSTEM, ARCHIVE) == [f"{ARCHIVE}/a.txt"]


async def test_list_files_gives_sorted_canonical_paths_of_regular_files(
    storage: LocalStorage,
) -> None:
    for name in ("b/z.png", "a.csv", "b/c/d.json", "B.txt"):
        await storage.write_bytes(SYSTEM, f"{ARCHIVE}/{name}", b"1")
    await storage.make_dirs(SYSTEM, f"{ARCHIVE}/empty/dir")
    listed = await storage.list_files(SYSTEM, ARCHIVE)
    assert listed == [
        f"{ARCHIVE}/B.txt",
        f"{ARCHIVE}/a.csv",
        f"{ARCHIVE}/b/c/d.json",
        f"{ARCHIVE}/b/z.png",
    ]


async def test_list_files_accepts_a_trailing_slash_and_the_system_root(
    storage: LocalStorage,
) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.csv", b"1")
    assert await storage.list_files(SYSTEM, ARCHIVE + "/") == [f"{ARCHIVE}/a.csv"]
    assert await storage.list_files(SYSTEM, "/") == [f"{ARCHIVE}/a.csv"]


async def test_listing_a_missing_archive_path_is_empty(storage: LocalStorage) -> None:
    assert await storage.list_files(SYSTEM, ARCHIVE) == []


async def test_listing_a_file_gives_that_file(storage: LocalStorage) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.csv", b"1")
    assert await storage.list_files(SYSTEM, f"{ARCHIVE}/a.csv") == [f"{ARCHIVE}/a.csv"]


async def test_systems_are_separate_directories(storage: LocalStorage) -> None:
    await storage.write_bytes("other-system", f"{ARCHIVE}/a.csv", b"1")
    assert await storage.list_files(SYSTEM, ARCHIVE) == []
    assert await storage.list_files("other-system", ARCHIVE) == [f"{ARCHIVE}/a.csv"]


async def test_clear_empties_the_directory_and_keeps_it(storage: LocalStorage) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.csv", b"1")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/sub/b.csv", b"1")
    await storage.clear(SYSTEM, ARCHIVE)
    local = system_dir(storage) / ARCHIVE.lstrip("/")
    assert local.is_dir()
    assert list(local.iterdir()) == []


async def test_clear_of_a_missing_path_creates_it(storage: LocalStorage) -> None:
    await storage.clear(SYSTEM, ARCHIVE)
    assert (system_dir(storage) / ARCHIVE.lstrip("/")).is_dir()


async def test_clear_removes_links_without_following_them(
    storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    await storage.make_dirs(SYSTEM, ARCHIVE)
    (system_dir(storage) / ARCHIVE.lstrip("/") / "link").symlink_to(outside)
    await storage.clear(SYSTEM, ARCHIVE)
    assert (outside / "keep.txt").read_text() == "keep"
    assert await storage.list_files(SYSTEM, ARCHIVE) == []


async def test_clear_refuses_the_system_root(storage: LocalStorage) -> None:
    with pytest.raises(InvalidInput, match="cannot be cleared"):
        await storage.clear(SYSTEM, "/")


async def test_reading_a_missing_file_is_not_found(storage: LocalStorage) -> None:
    with pytest.raises(NotFound, match=r"no file '/products/v2/nothing.csv'"):
        await storage.read_bytes(SYSTEM, "/products/v2/nothing.csv")


async def test_reading_a_directory_is_not_found(storage: LocalStorage) -> None:
    await storage.make_dirs(SYSTEM, ARCHIVE)
    with pytest.raises(NotFound, match="is a directory"):
        await storage.read_bytes(SYSTEM, ARCHIVE)


async def test_make_dirs_through_a_file_is_a_conflict(storage: LocalStorage) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.csv", b"1")
    with pytest.raises(Conflict, match="exists as a file"):
        await storage.make_dirs(SYSTEM, f"{ARCHIVE}/a.csv/deeper")


async def test_writing_over_a_directory_is_a_conflict(storage: LocalStorage) -> None:
    await storage.make_dirs(SYSTEM, f"{ARCHIVE}/dir")
    with pytest.raises(Conflict, match="is a directory"):
        await storage.write_bytes(SYSTEM, f"{ARCHIVE}/dir", b"1")


# -- escapes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/products/../../etc/passwd",
        "/../etc/passwd",
        "/products/v2/..",
        "products/v2/relative",
        "/products\\..\\..\\etc",
        "/products/v2/nul\x00byte",
        "",
    ],
)
async def test_paths_that_could_escape_are_refused_naming_the_path(
    storage: LocalStorage, path: str
) -> None:
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: storage.list_files(SYSTEM, path),
        lambda: storage.make_dirs(SYSTEM, path),
        lambda: storage.read_bytes(SYSTEM, path),
        lambda: storage.write_bytes(SYSTEM, path, b"x"),
        lambda: storage.clear(SYSTEM, path),
    ]
    for operation in operations:
        with pytest.raises(InvalidInput) as refused:
            await operation()
        assert repr(path) in str(refused.value)
    assert not storage.root.exists() or not any(storage.root.rglob("*"))


@pytest.mark.parametrize("system", ["..", ".", "a/b", "../etc", "", "sys tem", "x" * 256])
async def test_bad_system_names_are_refused(storage: LocalStorage, system: str) -> None:
    with pytest.raises(InvalidInput, match="storage system"):
        await storage.list_files(system, ARCHIVE)


async def test_a_link_to_etc_cannot_be_read_listed_or_written(storage: LocalStorage) -> None:
    await storage.make_dirs(SYSTEM, ARCHIVE)
    (system_dir(storage) / ARCHIVE.lstrip("/") / "etc").symlink_to("/etc")
    escape = f"{ARCHIVE}/etc/hostname"
    with pytest.raises(InvalidInput, match=r"resolves outside the storage system") as refused:
        await storage.read_bytes(SYSTEM, escape)
    assert escape in str(refused.value)
    with pytest.raises(InvalidInput, match="resolves outside"):
        await storage.list_files(SYSTEM, f"{ARCHIVE}/etc")
    with pytest.raises(InvalidInput, match="resolves outside"):
        await storage.write_bytes(SYSTEM, f"{ARCHIVE}/etc/planted", b"x")
    with pytest.raises(InvalidInput, match="resolves outside"):
        await storage.clear(SYSTEM, f"{ARCHIVE}/etc")


async def test_listing_skips_links_that_point_outside_and_keeps_links_inside(
    storage: LocalStorage, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/real.csv", b"1")
    await storage.write_bytes(SYSTEM, "/products/shared/ref.fasta", b">a")
    archive = system_dir(storage) / ARCHIVE.lstrip("/")
    (archive / "secret.txt").symlink_to(secret)
    (archive / "etc").symlink_to("/etc")
    (archive / "passwd").symlink_to("/etc/passwd")
    (archive / "ref.fasta").symlink_to(system_dir(storage) / "products/shared/ref.fasta")
    (archive / "loop").symlink_to(archive / "loop")
    (archive / "dangling").symlink_to(archive / "missing")
    assert await storage.list_files(SYSTEM, ARCHIVE) == [
        f"{ARCHIVE}/real.csv",
        f"{ARCHIVE}/ref.fasta",
    ]


async def test_a_linked_directory_inside_the_system_is_not_descended(
    storage: LocalStorage,
) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/a.csv", b"1")
    archive = system_dir(storage) / ARCHIVE.lstrip("/")
    (archive / "self").symlink_to(archive)  # a cycle if followed
    assert await storage.list_files(SYSTEM, ARCHIVE) == [f"{ARCHIVE}/a.csv"]


async def test_writing_onto_a_link_replaces_the_link_not_its_target(
    storage: LocalStorage,
) -> None:
    await storage.write_bytes(SYSTEM, "/products/shared/ref.fasta", b">original")
    await storage.make_dirs(SYSTEM, ARCHIVE)
    link = system_dir(storage) / ARCHIVE.lstrip("/") / "ref.fasta"
    link.symlink_to(system_dir(storage) / "products/shared/ref.fasta")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/ref.fasta", b">new")
    assert not link.is_symlink()
    assert await storage.read_bytes(SYSTEM, "/products/shared/ref.fasta") == b">original"


async def test_listing_skips_names_the_storage_would_refuse(storage: LocalStorage) -> None:
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/ok.csv", b"1")
    archive = system_dir(storage) / ARCHIVE.lstrip("/")
    (archive / "back\\slash.csv").write_bytes(b"1")
    os.close(os.open(os.fsencode(archive) + b"/bad-\xff.csv", os.O_CREAT | os.O_WRONLY))
    assert await storage.list_files(SYSTEM, ARCHIVE) == [f"{ARCHIVE}/ok.csv"]


async def test_the_system_directory_may_itself_be_a_link(
    storage: LocalStorage, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "big-disk"
    (elsewhere / "products").mkdir(parents=True)
    (elsewhere / "products" / "a.csv").write_text("1")
    storage.root.mkdir(parents=True)
    system_dir(storage).symlink_to(elsewhere)
    assert await storage.list_files(SYSTEM, "/products") == ["/products/a.csv"]
