"""``colorcli colorize`` with colour hints, scribbles, references and confidence maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.cli.app import app
from colorcli.models import get_model

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["colorize", *map(str, args)])


@pytest.fixture(scope="module")
def guided_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight guided lite0 with a 16-colour gamut head."""
    torch.manual_seed(0)
    model = get_model("lite0", guided=True, width=8, colors="gamut", num_classes=16)
    grid = torch.arange(-30.0, 31, 20)
    model.head.set_palette(torch.cartesian_prod(grid, grid))
    path = tmp_path_factory.mktemp("guided") / "guided.pt"
    save_checkpoint(path, checkpoint_from_model(model))
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        gray = rng.integers(0, 255, (40, 60), dtype=np.uint8)
        Image.fromarray(gray).convert("RGB").save(folder / name)
    return folder


def test_hints_and_confidence_maps(photos: Path, guided_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        photos, "-o", out, "--model", guided_checkpoint, "--size", "64",
        "--hint", "10,20=#c0392b", "--hint", "0.5,0.5=royalblue", "--save-confidence",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 done, 0 failed" in result.stdout
    for stem in ("a", "b"):
        assert Image.open(out / f"{stem}.png").size == (60, 40)
        confidence = Image.open(out / f"{stem}_confidence.png")
        assert confidence.size == (60, 40)
        assert confidence.mode == "L"  # a grayscale PNG: one channel


def test_lightness_is_the_inputs_whatever_the_hint(
    photos: Path, guided_checkpoint: Path, tmp_path: Path
) -> None:
    from colorcli.color import rgb_to_lightness

    out = tmp_path / "out"
    result = run(photos / "a.png", "-o", out, "--model", guided_checkpoint, "--hint", "5,5=red")
    assert result.exit_code == 0, result.output

    def lightness(path: Path) -> torch.Tensor:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        return rgb_to_lightness(torch.from_numpy(rgb).permute(2, 0, 1))

    # 8-bit rounding of the colour output moves L by well under one unit
    assert (lightness(out / "a.png") - lightness(photos / "a.png")).abs().max() < 1.5


def test_hints_png_beside_a_photo_is_used_not_colourized(
    photos: Path, guided_checkpoint: Path, tmp_path: Path
) -> None:
    scribble = np.zeros((20, 30, 4), np.uint8)
    scribble[5:10, 5:10] = (0, 200, 0, 255)
    Image.fromarray(scribble).save(photos / "a.hints.png")
    out = tmp_path / "out"
    result = run(photos, "-o", out, "--model", guided_checkpoint, "--size", "64")
    assert result.exit_code == 0, result.output
    assert "2 done, 0 failed" in result.stdout
    assert not (out / "a.hints.png").exists()


def test_a_hint_outside_one_photo_fails_that_photo_only(
    photos: Path, guided_checkpoint: Path, tmp_path: Path
) -> None:
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(photos / "small.png")
    result = run(
        photos, "-o", tmp_path / "out", "--model", guided_checkpoint, "--hint", "30,30=red"
    )
    assert result.exit_code == 1
    assert "2 done, 1 failed" in result.stdout
    assert "small.png" in result.stderr and "outside the 10×10 photo" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hint", "1,2"], "malformed hint '1,2'"),
        (["--hint", "1,2=blurple"], "unknown colour 'blurple'"),
        (["--hints", "missing.png"], "missing.png: hint image not found"),
        (["--reference", "nothere.jpg"], "--reference:"),
    ],
)
def test_bad_hints_are_one_line_errors(
    args: list[str], message: str, photos: Path, guided_checkpoint: Path, tmp_path: Path
) -> None:
    result = run(photos, "-o", tmp_path / "out", "--model", guided_checkpoint, *args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_hints_need_a_guided_model(photos: Path, tmp_path: Path) -> None:
    model = get_model("tiny", width=4)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, checkpoint_from_model(model))
    result = run(photos, "-o", tmp_path / "out", "--model", path, "--hint", "1,1=red")
    assert result.exit_code != 0
    assert "takes no colour hints" in result.stderr
    # a regression model has a confidence map too: agreement with its mirrored prediction
    result = run(photos, "-o", tmp_path / "out2", "--model", path, "--save-confidence")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out2" / "a_confidence.png").mode == "L"
