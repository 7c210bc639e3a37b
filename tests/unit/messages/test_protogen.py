"""The committed protobuf code is what the .proto files generate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pipelinejobs.messages import protogen
from pipelinejobs.messages.protogen import (
    PB_DIR,
    PROTO_ROOT,
    ProtoGenerationError,
    generate,
    stale_files,
)


def test_committed_protobuf_code_is_current() -> None:
    stale = stale_files()

    assert stale == [], f"generated protobuf code is stale ({', '.join(stale)}): run make proto"


def test_a_changed_proto_file_makes_the_committed_code_stale(tmp_path: Path) -> None:
    proto_root = tmp_path / "proto"
    shutil.copytree(PROTO_ROOT, proto_root)
    jobs = proto_root / "pipelinejobs" / "v1" / "jobs.proto"
    jobs.write_text(
        jobs.read_text().replace(
            "optional string task = 14;", "optional string task = 14;\n  optional string note = 15;"
        )
    )

    assert stale_files(PB_DIR, proto_root) == [
        "pipelinejobs/v1/jobs_pb2.py",
        "pipelinejobs/v1/jobs_pb2.pyi",
    ]


def test_imports_between_our_proto_files_point_into_the_package(tmp_path: Path) -> None:
    package = tmp_path / "proto" / "pipelinejobs" / "v1"
    package.mkdir(parents=True)
    (package / "common.proto").write_text(
        'syntax = "proto3";\npackage pipelinejobs.v1;\nmessage Note { optional string text = 1; }\n'
    )
    (package / "uses.proto").write_text(
        'syntax = "proto3";\npackage pipelinejobs.v1;\nimport "pipelinejobs/v1/common.proto";\n'
        "message Uses { Note note = 1; }\n"
    )

    written = generate(tmp_path / "pb", tmp_path / "proto")

    names = {str(path.relative_to(tmp_path / "pb")) for path in written}
    assert {"__init__.py", "pipelinejobs/__init__.py", "pipelinejobs/v1/__init__.py"} <= names
    for stub in ("uses_pb2.py", "uses_pb2.pyi"):
        text = (tmp_path / "pb" / "pipelinejobs" / "v1" / stub).read_text()
        assert "from pipelinejobs.messages.pb.pipelinejobs.v1 import common_pb2" in text
        assert "from pipelinejobs.v1 " not in text


def test_outside_a_checkout_generation_stops_with_a_clear_message(tmp_path: Path) -> None:
    out_dir = tmp_path / "pb"
    out_dir.mkdir()
    (out_dir / "jobs_pb2.py").write_text("# generated\n")

    with pytest.raises(ProtoGenerationError, match=r"proto directory .*missing not found: .*make"):
        generate(out_dir, tmp_path / "missing")

    assert (out_dir / "jobs_pb2.py").read_text() == "# generated\n"


def test_the_command_reports_a_generation_error_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def outside_a_checkout() -> list[str]:
        raise ProtoGenerationError("proto directory /site-packages/proto not found")

    monkeypatch.setattr(protogen, "stale_files", outside_a_checkout)

    assert protogen.main(["--check"]) == 1
    assert capsys.readouterr().err == "protogen: proto directory /site-packages/proto not found\n"
