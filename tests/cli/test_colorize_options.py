"""Bad option values and odd ends of ``colorize`` (issue 16 item 8): exit codes and one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from colorcli.cli import _report
from colorcli.cli.app import app
from colorcli.errors import OutputExistsError
from colorcli.imageio import write_image
from colorcli.jobs import plan_jobs
from colorcli.runner import ColorizeSettings, colorize_jobs

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["colorize", *map(str, args)])


def flat(text: str) -> str:
    """Output without Rich's box and line breaks."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize("flag", ["--saturation", "--temperature", "--temporal"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_floats_are_refused_as_such(flag, value, photo_folder, tmp_path):
    result = run(photo_folder, "-o", tmp_path / "out", flag, value)
    assert result.exit_code == 2
    assert f"got {value}" in flat(result.output)
    assert "less than" not in result.output and "greater than" not in result.output
    assert not (tmp_path / "out").exists()


def test_out_of_range_float_names_the_range(photo_folder, tmp_path):
    result = run(photo_folder, "-o", tmp_path / "out", "--saturation", "5")
    assert result.exit_code == 2
    assert "must be a number from 0 to 4, got 5" in flat(result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nonsense"], "Error: --model: unknown model 'nonsense'; available: "),
        (["--model", ""], "Error: --model: empty model name: give a published name"),
        (["--device", "gpu"], "Error: --device: unknown device 'gpu': use auto, cpu, cuda"),
    ],
)
def test_bad_model_and_device_are_usage_errors(args, message, photo_folder, tmp_path):
    result = run(photo_folder, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_empty_input_is_a_usage_error(tiny_checkpoint, tmp_path, monkeypatch):
    (tmp_path / "here.png").write_bytes(b"")  # would be found if "" meant the current folder
    monkeypatch.chdir(tmp_path)
    result = run("", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 2
    assert "an empty name is not a file or folder" in flat(result.output)
    assert not (tmp_path / "out").exists()


def test_an_empty_shard_is_a_normal_exit_with_a_note(photo_folder, tiny_checkpoint, tmp_path):
    one = photo_folder / "a.jpg"
    result = run(one, "-o", tmp_path / "out", "--model", tiny_checkpoint, "--shard", "2/3")
    assert result.exit_code == 0, result.output
    assert "shard 2/3 has nothing to do (1 input(s) in all" in result.stderr
    assert not (tmp_path / "out").exists()


class _ClosedPipe:
    """A stdout whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def isatty(self) -> bool:
        return False


def test_a_closed_stdout_does_not_fail_the_run(
    photo_folder, tiny_checkpoint, tmp_path, monkeypatch
):
    # _file, not the file property: restoring the property would pin stdout to this test's
    monkeypatch.setattr(_report.console, "_file", _ClosedPipe())
    monkeypatch.setattr(_report.console, "quiet", False)
    monkeypatch.setattr(_report.console, "broken", False)
    result = run(photo_folder, "-o", tmp_path / "out", "--model", tiny_checkpoint, "-q")
    assert result.exit_code == 0, result.output
    assert "Summary: 3 done, 0 failed" in result.stderr  # said where it can still be read
    assert (tmp_path / "out" / "a.jpg").is_file()


def test_an_output_written_meanwhile_by_another_run_is_a_skip(
    photo_folder, tiny_checkpoint, tmp_path, monkeypatch
):
    from colorcli import photo_outputs
    from colorcli.checkpoint import load_model
    from colorcli.pipeline import Colorizer

    out = tmp_path / "out"
    plan = plan_jobs([photo_folder], out)
    real_write = photo_outputs.write_like

    def racing_write(path, pixels, source, **options):
        if Path(path).name == "b.png":  # the other run got there first
            write_image(path, pixels)
        return real_write(path, pixels, source, **options)

    monkeypatch.setattr(photo_outputs, "write_like", racing_write)
    colorizer = Colorizer(load_model(tiny_checkpoint), size=32)
    summary = colorize_jobs(plan.jobs, colorizer, ColorizeSettings(out_root=out, workers=0))
    assert summary.done == 2 and not summary.failed
    assert [r.reason for r in summary.skipped] == [
        "output exists (written meanwhile by another run)"
    ]
    with pytest.raises(OutputExistsError):  # what the runner turned into the skip
        write_image(out / "b.png", np.zeros((2, 2, 3), np.uint8))
