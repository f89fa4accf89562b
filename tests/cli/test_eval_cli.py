"""``colorcli eval`` end to end with CliRunner: table, JSON, CSV, sample grids and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from colorcli import hub
from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.cli.app import app
from colorcli.evaluation import SAMPLE_LABEL_HEIGHT
from colorcli.metrics import METRICS
from colorcli.models import get_model

runner = CliRunner()
FAST = ("--protocol", "crop32", "--size", "32")


def run(*args: str | Path):
    return runner.invoke(app, ["eval", *map(str, args)], env={"COLUMNS": "200"})


def colour_photo(height: int, width: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack((0.2 + 0.6 * x, 0.5 + 0.3 * np.sin(6 * y), 0.8 - 0.6 * x * y), axis=-1)
    image = image + rng.normal(0, 0.02, image.shape)
    return Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))


@pytest.fixture
def checkpoints(tmp_path: Path) -> tuple[Path, Path]:
    """Two tiny random-weight models."""
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = tmp_path / f"tiny{seed}.pt"
        save_checkpoint(path, checkpoint_from_model(get_model("tiny", width=4)))
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """Three colour photos (two PNG, one JPEG in a sub-folder) in ``photos/``."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    colour_photo(40, 48, 1).save(folder / "a.png")
    colour_photo(36, 36, 2).save(folder / "b.png")
    colour_photo(50, 34, 3).save(folder / "sub" / "c.jpg", quality=95)
    return folder


def test_table_has_gray_first_then_models_and_original(
    colour_folder: Path, checkpoints: tuple[Path, Path]
) -> None:
    one, two = checkpoints
    result = run("--data", colour_folder, "-m", one, "-m", two, *FAST)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("protocol crop32: centre square crop")
    lines = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in lines] == [
        "gray",
        str(one),
        str(two),
        "original",
    ]
    header = next(line for line in result.stdout.splitlines() if "psnr" in line)
    for name in ("psnr ↑", "ssim ↑", "deltae ↓", "imgsim ↑", "colorfulness ↑", "delta_cf ↓"):
        assert name in header
    assert " ± " in lines[0]
    assert "Summary: scored 3 image(s), 0 failed" in result.stderr


def test_json_has_the_documented_keys(colour_folder: Path, checkpoints: tuple[Path, Path]) -> None:
    result = run("--data", colour_folder, "-m", checkpoints[0], "--json", *FAST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["protocol"]["name"] == "crop32" and data["protocol"]["crop_size"] == 32
    assert data["counts"] == {
        "files": 3,
        "examined": 3,
        "scored": 3,
        "skipped_gray": 0,
        "failed": 0,
    }
    assert data["data"]["root"] == str(colour_folder) and data["data"]["builtin"] is False
    assert [model["name"] for model in data["models"]] == ["gray", str(checkpoints[0])]
    assert data["models"][1]["size"] == 32
    results = data["models"][1]["results"]
    assert list(results) == ["psnr", "ssim", "deltae", "imgsim", "colorfulness", "delta_cf"]
    assert set(results["psnr"]) == {"mean", "ci95_low", "ci95_high", "n"}
    assert results["psnr"]["n"] == 3
    assert data["original"]["colorfulness"]["n"] == 3


def test_metrics_can_be_chosen(colour_folder: Path, checkpoints: tuple[Path, Path]) -> None:
    result = run(
        "--data", colour_folder, "-m", checkpoints[0], "--metric", "imgsim", "--metric", "ssim_l",
        "--json", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["models"][0]["results"]) == ["imgsim", "ssim_l"]
    assert json.loads(result.stdout)["original"] is None


def test_unknown_metric_is_a_usage_error_listing_the_names(colour_folder: Path) -> None:
    result = run("--data", colour_folder, "--metric", "sharpness")
    assert result.exit_code == 2
    assert "Invalid value for '--metric'" in result.stderr
    for name in METRICS:
        assert f"'{name}'" in result.stderr


def test_bad_protocol_is_a_usage_error(colour_folder: Path) -> None:
    result = run("--data", colour_folder, "--protocol", "square")
    assert result.exit_code == 2
    assert "use crop256 (or cropN, N pixels) or full" in result.stderr


def test_missing_data_folder_is_a_clear_error(
    tmp_path: Path, checkpoints: tuple[Path, Path]
) -> None:
    result = run("--data", tmp_path / "nope", "-m", checkpoints[0])
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[-1]
        == f"Error: {tmp_path / 'nope'}: evaluation data folder not found"
    )


def test_gray_and_corrupt_files_are_reported_not_fatal(
    colour_folder: Path, checkpoints: tuple[Path, Path]
) -> None:
    colour_photo(30, 30, 4).convert("L").save(colour_folder / "gray.png")
    (colour_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    result = run("--data", colour_folder, "-m", checkpoints[0], "--json", *FAST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["scored"] == 3
    assert data["skipped_gray"] == ["gray.png"]
    assert [failure["image"] for failure in data["failed"]] == ["broken.jpg"]
    assert "Summary: scored 3 image(s), 1 skipped (already gray), 1 failed" in result.stderr
    assert f"  {colour_folder / 'broken.jpg'}: " in result.stderr


def test_nothing_to_score_is_an_error(tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    colour_photo(30, 30, 4).convert("L").save(tmp_path / "gray.png")
    result = run("--data", tmp_path, "-m", checkpoints[0], *FAST)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: {tmp_path}: no colour photograph could be scored (1 already gray, 0 failed)"
    )


def test_limit_scores_the_first_images(colour_folder: Path, checkpoints: tuple[Path, Path]) -> None:
    result = run(
        "--data", colour_folder, "-m", checkpoints[0], "--limit", "2", "--per-image",
        colour_folder.parent / "rows.csv", "--metric", "psnr", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(colour_folder.parent / "rows.csv", newline="") as stream:
        images = {row["image"] for row in csv.DictReader(stream)}
    assert images == {"a.png", "b.png"}
    assert "1 not examined (--limit)" in result.stderr


def test_per_image_csv_rows_are_images_times_rows(
    colour_folder: Path, checkpoints: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "results" / "per_image.csv"
    result = run(
        "--data", colour_folder, "-m", checkpoints[0], "-m", checkpoints[1], "--per-image", out,
        *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3 * (2 + 1)
    assert {row["model"] for row in rows} == {"gray", str(checkpoints[0]), str(checkpoints[1])}
    assert list(rows[0])[:2] == ["image", "model"] and "delta_cf" in rows[0]
    assert f"per-image values: {out}" in result.stderr


def test_samples_write_one_grid_per_image(
    colour_folder: Path, checkpoints: tuple[Path, Path], tmp_path: Path
) -> None:
    samples = tmp_path / "grids"
    result = run(
        "--data", colour_folder, "-m", checkpoints[0], "-m", checkpoints[1], "--samples", samples,
        "--metric", "psnr", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    grids = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*.png"))
    assert grids == ["a.png", "b.png", "sub/c.png"]
    with Image.open(samples / "sub" / "c.png") as grid:
        assert grid.size == (4 * 32, SAMPLE_LABEL_HEIGHT + 32)  # gray | two models | original


def test_same_model_twice_is_a_usage_error(
    colour_folder: Path, checkpoints: tuple[Path, Path]
) -> None:
    result = run("--data", colour_folder, "-m", checkpoints[0], "-m", checkpoints[0], *FAST)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: --model {checkpoints[0]} is given twice"


def test_builtin_set_without_data(checkpoints: tuple[Path, Path]) -> None:
    result = run("-m", checkpoints[0], "--metric", "imgsim", "--limit", "2", "--json", *FAST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["data"]["builtin"] is True and data["data"]["files"] == 4
    assert data["counts"]["scored"] == 2
    assert "data: built-in sample photos, 4 file(s)" in result.stderr


def test_default_model_when_no_model_is_given() -> None:
    manifest = hub.load_manifest()
    if manifest.default is None:
        pytest.skip("no default model published yet (weights/manifest.json has no default)")
    if hub.local_checkpoint(manifest.default_entry()) is None:
        pytest.skip("the default model is not shipped in weights/ (would need a download)")
    result = run("--metric", "imgsim", "--limit", "1", "--json", "--protocol", "crop64")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [model["name"] for model in data["models"]] == ["gray", manifest.default]
    assert data["counts"]["scored"] == 1


def test_no_model_uses_the_published_default(
    checkpoints: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "weights"
    hub.publish_checkpoint(
        checkpoints[0], "tiny-test", weights_dir=shipped, make_default=True, arch="tiny",
        head="regression",
    )  # fmt: skip
    monkeypatch.setattr("colorcli.hub.manifest.shipped_weights_dir", lambda: shipped)
    result = run("--metric", "imgsim", "--limit", "1", "--json", *FAST)
    assert result.exit_code == 0, result.output
    assert [model["name"] for model in json.loads(result.stdout)["models"]] == ["gray", "tiny-test"]


def test_no_model_and_no_default_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "manifest.json").write_text('{"format": 1, "default": null, "models": []}')
    monkeypatch.setattr("colorcli.hub.manifest.shipped_weights_dir", lambda: shipped)
    result = run("--metric", "imgsim", *FAST)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("Error: no default model in ")
