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


def test_photos_under_an_output_folder_inside_the_input_are_named(
    tmp_path: Path, tiny_checkpoint: Path, gray_image
) -> None:
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    gray_image(20, 10, 1).save(inputs / "a.png")
    gray_image(20, 10, 2).save(inputs / "sub" / "own.png")
    result = run(inputs, "-o", inputs / "sub", "-r", "--model", tiny_checkpoint, "--size", "16")
    assert result.exit_code == 0, result.output
    assert "1 done, 1 passed over (listed below), 0 failed" in result.stdout
    said = " ".join(result.stderr.split())
    assert f"{inputs / 'sub' / 'own.png'}: inside the output folder (-o), so not read" in said


def test_follow_links_colourizes_a_linked_folder_once(
    tmp_path: Path, tiny_checkpoint: Path, gray_image
) -> None:
    inputs, elsewhere, out = tmp_path / "in", tmp_path / "elsewhere", tmp_path / "out"
    inputs.mkdir()
    elsewhere.mkdir()
    gray_image(20, 10, 1).save(elsewhere / "b.png")
    (inputs / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(elsewhere, target_is_directory=True)
    args = (inputs, "-o", out, "-r", "--model", tiny_checkpoint, "--size", "16")
    plain = run(*args)
    assert plain.exit_code == 2, plain.output  # nothing to do, but the link is not silent
    followed = run(*args, "--follow-links")
    assert followed.exit_code == 0, followed.output
    assert (out / "linked" / "b.png").is_file()
    assert "a link back into a folder already walked" in " ".join(followed.stderr.split())


def test_a_multi_page_tiff_and_an_animated_gif_say_only_the_first_was_done(
    tmp_path: Path, tiny_checkpoint: Path, gray_image
) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    pages = [gray_image(20, 10, seed) for seed in range(3)]
    pages[0].save(inputs / "scan.tif", save_all=True, append_images=pages[1:])
    pages[0].save(inputs / "moving.gif", save_all=True, append_images=pages[1:2])
    gray_image(20, 10, 5).save(inputs / "plain.png")
    result = run(inputs, "-o", out, "--model", tiny_checkpoint, "--size", "16")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert f"{inputs / 'scan.tif'}: 3 pages or frames: only the first was colourized" in said
    assert f"{inputs / 'moving.gif'}: 2 pages or frames: only the first" in said
    assert "plain.png:" not in said
    assert (out / "scan.tif").is_file() and (out / "plain.png").is_file()
