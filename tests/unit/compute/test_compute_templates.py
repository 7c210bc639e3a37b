"""Command templates: argv items from placeholders, never a shell, refused when unknown."""

from __future__ import annotations

from typing import Any

import pytest
from pipelinejobs.compute.local.templates import CommandValues, parse_command, render_command
from pipelinejobs.errors import InvalidInput


def values(
    parameters: dict[str, Any] | None = None, inputs: dict[str, list[str]] | None = None
) -> CommandValues:
    return CommandValues(
        python="/usr/bin/python3",
        app_dir="/apps",
        outdir="/work/job-1/outputs",
        job_id="job-1",
        job_name="my job",
        parameters=parameters or {},
        inputs=inputs or {},
    )


def render(command: list[str], **kwargs: Any) -> list[str]:
    return render_command(parse_command(command), values(**kwargs))


@pytest.mark.parametrize(
    "hostile",
    ["; rm -rf /", "$(touch /tmp/pwned)", "`id`", "a b c", "x && y | z > /etc/passwd", "'\"\n"],
)
def test_a_hostile_parameter_stays_one_argv_item(hostile: str) -> None:
    argv = render(
        ["{python}", "app.py", "--name", "{parameters[name]}"], parameters={"name": hostile}
    )
    assert argv == ["/usr/bin/python3", "app.py", "--name", hostile]


def test_placeholders_inside_an_item_are_joined_into_that_item() -> None:
    argv = render(["--out={outdir}/result-{job_id}.txt", "{app_dir}/run.py"])
    assert argv == ["--out=/work/job-1/outputs/result-job-1.txt", "/apps/run.py"]


def test_parameter_values_are_spelled_as_json_for_booleans_and_containers() -> None:
    argv = render(
        ["{parameters[flag]}", "{parameters[n]}", "{parameters[x]}", "{parameters[tags]}"],
        parameters={"flag": True, "n": 3, "x": 0.5, "tags": ["a", "b"]},
    )
    assert argv == ["true", "3", "0.5", '["a","b"]']


def test_a_whole_item_input_expands_to_one_item_per_file() -> None:
    argv = render(
        ["count", "{inputs[files]}", "--end"], inputs={"files": ["/in/a.txt", "/in/b.txt"]}
    )
    assert argv == ["count", "/in/a.txt", "/in/b.txt", "--end"]


def test_an_absent_optional_input_leaves_no_item() -> None:
    assert render(["count", "{inputs[files]}"], inputs={}) == ["count"]


def test_an_embedded_input_needs_exactly_one_file() -> None:
    with pytest.raises(InvalidInput, match=r"inputs\.files must name exactly one file.*got 2"):
        render(["--in={inputs[files]}"], inputs={"files": ["/a", "/b"]})


def test_a_missing_parameter_names_the_parameter() -> None:
    with pytest.raises(InvalidInput, match=r"parameters\.n is required by the app's command"):
        render(["{parameters[n]}"])


def test_literal_braces_are_written_doubled() -> None:
    assert render(["{{not a placeholder}}"]) == ["{not a placeholder}"]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("{parameters.__class__}", "unknown"),
        ("{parameters[n].__class__}", "unknown"),
        ("{os}", "unknown"),
        ("{python!r}", "conversions"),
        ("{python:>10}", "format specs"),
        ("{parameters}", "unknown"),
        ("{unclosed", "not a valid template"),
    ],
)
def test_templates_that_could_reach_beyond_their_values_are_refused(
    item: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_command(["{python}", item])


def test_a_shell_string_is_not_a_command() -> None:
    with pytest.raises(InvalidInput, match="shell string is not accepted"):
        parse_command("python3 app.py --n 1")


def test_a_nul_character_cannot_reach_an_argv_item() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        render(["{parameters[s]}"], parameters={"s": "a\x00b"})
