"""What a careful, hostile new user tried (issue 16): nothing lost, nothing hung, clear words."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from colorcli.cli.app import app

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["colorize", *map(str, args)])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_compare_overwrite_never_replaces_another_output(
    tmp_path: Path, tiny_checkpoint: Path, gray_image
) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    gray_image(20, 10, 1).save(inputs / "a.png")
    gray_image(20, 10, 2).save(inputs / "a_compare.png")
    args = (inputs, "-o", out, "--model", tiny_checkpoint, "--size", "16", "--compare")
    result = run(*args, "--overwrite")
    assert result.exit_code == 1, result.output
    assert f"its output {out / 'a_compare.png'} is also planned for {inputs / 'a.png'}" in (
        " ".join(result.stderr.split())
    )
    assert sorted(_files(out)) == ["a.png", "a_compare.png"]  # a.png and its side-by-side


def test_rerunning_the_in_place_command_resumes(photo_folder: Path, tiny_checkpoint: Path) -> None:
    args = (photo_folder, "-o", photo_folder, "--model", tiny_checkpoint, "--size", "16")
    first = run(*args, "--suffix", "_color")
    assert first.exit_code == 0, first.output
    after_first = _files(photo_folder)
    second = run(*args, "--suffix", "_color")
    assert second.exit_code == 0, second.output
    assert "0 done, 3 skipped (output exists), 0 failed" in second.stdout
    assert _files(photo_folder) == after_first
    assert not any("_color_color" in name for name in after_first)
