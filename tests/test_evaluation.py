"""Tests for colorcli.evaluation: gray baseline, models side by side, skips, failures, outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorcli.errors import DataError, ModelError, UsageError
from colorcli.evaluation import (
    BASELINE_NAME,
    SAMPLE_LABEL_HEIGHT,
    EvalProtocol,
    ImageEvent,
    builtin_eval_dir,
    centre_square_crop,
    evaluate,
    find_eval_images,
    gray_baseline,
    parse_protocol,
    sample_grid,
    write_per_image_csv,
)
from colorcli.imageio import read_image, write_image
from colorcli.metrics import METRICS, compute_metrics
from colorcli.models import get_model
from colorcli.pipeline import Colorizer
from tolerances import assert_same_8bit, deltae_tolerance, psnr_tolerance

CROP = 32
METRIC_NAMES = ("psnr", "ssim", "deltae", "imgsim", "colorfulness", "delta_cf")


def colour_photo(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth colourful ``(H, W, 3)`` uint8 image with a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 3)
    channels = [
        0.5 + 0.4 * np.sin(x / width * 3 + phase[0]) * np.cos(y / height * 2 + phase[1]),
        0.5 + 0.4 * np.cos(x / width * 2 + phase[2]),
        0.5 + 0.4 * np.sin(y / height * 3 + phase[0] + phase[2]),
    ]
    image = np.stack(channels, axis=-1) + rng.normal(0, 0.02, (height, width, 3))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def save_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """Three colour PNGs of different sizes, one in a sub-folder."""
    root = tmp_path / "photos"
    save_png(root / "a.png", colour_photo(40, 48, 1))
    save_png(root / "b.png", colour_photo(36, 36, 2))
    save_png(root / "sub" / "c.png", colour_photo(50, 34, 3))
    return root


def tiny_colorizer(seed: int, size: int = CROP) -> Colorizer:
    torch.manual_seed(seed)
    return Colorizer(get_model("tiny", width=4), size=size)


def direct_metrics(path: Path, protocol: EvalProtocol, make_pred) -> dict[str, float]:
    """Metrics of one image computed without the evaluation loop."""
    target = protocol.apply(read_image(path).pixels)
    pred = make_pred(target)
    as_float = [torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255 for a in (pred, target)]
    values = compute_metrics(as_float[0], as_float[1], METRIC_NAMES)
    return {name: float(value[0]) for name, value in values.items()}


# --------------------------------------------------------------------------- protocol


def test_parse_protocol() -> None:
    assert parse_protocol("crop256") == EvalProtocol("crop256", 256)
    assert parse_protocol(" Crop32 ") == EvalProtocol("crop32", 32)
    assert parse_protocol("full") == EvalProtocol("full", None)
    for bad in ("crop", "crop8", "crop99999", "square", ""):
        with pytest.raises(UsageError, match="crop"):
            parse_protocol(bad)
    assert "256x256" in parse_protocol("crop256").description
    assert "INTER_AREA" in parse_protocol("crop256").description


def test_centre_square_crop_takes_the_middle() -> None:
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, 10:30] = 200  # the centred 20x20 square
    out = centre_square_crop(pixels, 20)
    assert out.shape == (20, 20, 3) and (out == 200).all()
    assert centre_square_crop(pixels, 10).shape == (10, 10, 3)  # area filter
    assert centre_square_crop(pixels, 64).shape == (64, 64, 3)  # Lanczos
    wide = np.zeros((20, 40, 3), dtype=np.uint16)
    assert centre_square_crop(wide, 16).dtype == np.uint16


# --------------------------------------------------------------------------- data


def test_find_eval_images_sorted_recursive_hidden_skipped(photo_dir: Path) -> None:
    save_png(photo_dir / ".hidden.png", colour_photo(20, 20, 9))
    (photo_dir / "notes.txt").write_text("not an image")
    data = find_eval_images(photo_dir)
    assert [data.name_of(p) for p in data.files] == ["a.png", "b.png", "sub/c.png"]
    assert not data.builtin
    excluded = find_eval_images(photo_dir, exclude=[photo_dir / "sub"])
    assert [excluded.name_of(p) for p in excluded.files] == ["a.png", "b.png"]


def test_find_eval_images_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope: evaluation data folder not found"):
        find_eval_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files found"):
        find_eval_images(tmp_path / "empty")
    file = save_png(tmp_path / "x.png", colour_photo(20, 20, 0))
    with pytest.raises(DataError, match="not a folder"):
        find_eval_images(file)


def test_builtin_set_is_found() -> None:
    data = find_eval_images(None)
    assert data.builtin and data.root == builtin_eval_dir()
    assert [p.name for p in data.files] == [
        "astronaut.jpg",
        "chelsea.jpg",
        "coffee.jpg",
        "rocket.jpg",
    ]


# --------------------------------------------------------------------------- evaluate


def test_gray_row_first_equals_direct_metrics(photo_dir: Path) -> None:
    data = find_eval_images(photo_dir)
    report = evaluate({"m": tiny_colorizer(0)}, data, metrics=METRIC_NAMES, protocol="crop32")
    assert report.rows == [BASELINE_NAME, "m"]
    assert report.scored == 3 and not report.failed and not report.skipped_gray
    for path, scores in zip(data.files, report.images, strict=True):
        assert scores.image == data.name_of(path) and scores.shape == (CROP, CROP)
        expected = direct_metrics(path, report.protocol, gray_baseline)
        assert scores.scores[BASELINE_NAME] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    for metric in METRIC_NAMES:
        summary = report.summary(BASELINE_NAME, metric)
        value, low, high = METRICS[metric].summarize(report.values(BASELINE_NAME, metric))
        assert (summary.value, summary.low, summary.high, summary.n) == (value, low, high, 3)


def test_models_side_by_side_match_colorizer(photo_dir: Path) -> None:
    first, second = tiny_colorizer(0), tiny_colorizer(1, size=48)  # two inference sizes
    data = find_eval_images(photo_dir)
    # batches of one, as colorize() runs: another split may move a pixel a level (see
    # test_batching_does_not_change_results), and these scores are compared tightly
    report = evaluate(
        {"one": first, "two": second}, data, metrics=METRIC_NAMES, protocol="crop32", batch_size=1
    )
    assert report.rows == [BASELINE_NAME, "one", "two"]
    assert report.models["two"]["size"] == 48 and report.models["one"]["arch"] == "tiny"
    for path, scores in zip(data.files, report.images, strict=True):
        for name, colorizer in (("one", first), ("two", second)):
            expected = direct_metrics(path, report.protocol, colorizer.colorize)
            assert scores.scores[name] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert report.values("one", "psnr") != report.values("two", "psnr")


def test_batching_does_not_change_results(photo_dir: Path, tmp_path: Path) -> None:
    # Batches of 1 and 16 run other float32 kernels, so a pixel may move one level (see
    # tolerances.py) and a score as far as that allows; a mixed-up image moves it by units.
    data = find_eval_images(photo_dir)
    colorizer = tiny_colorizer(0)
    reports = {
        size: evaluate(
            {"m": colorizer},
            data,
            metrics=["psnr", "deltae"],
            batch_size=size,
            samples_dir=tmp_path / f"batch{size}",
        )
        for size in (1, 16)
    }
    for single, batched in zip(reports[1].images, reports[16].images, strict=True):
        assert single.image == batched.image
        grid = Path(single.image).with_suffix(".png")
        tiles = [read_image(tmp_path / f"batch{size}" / grid).pixels for size in (1, 16)]
        width = tiles[0].shape[1] // 3  # gray | m | original
        model_tiles = [tile[SAMPLE_LABEL_HEIGHT:, width : 2 * width] for tile in tiles]
        assert_same_8bit(model_tiles[1], model_tiles[0], f"{grid}, model tile")
        for row in (BASELINE_NAME, "m"):
            one, many = single.scores[row], batched.scores[row]
            assert many["psnr"] == pytest.approx(one["psnr"], abs=psnr_tolerance(one["psnr"]))
            assert many["deltae"] == pytest.approx(one["deltae"], abs=deltae_tolerance())


def test_gray_images_are_skipped_and_counted(photo_dir: Path) -> None:
    Image.fromarray(colour_photo(30, 30, 5)[..., 0]).save(photo_dir / "gray_mode_l.png")
    rgb_gray = np.repeat(colour_photo(30, 30, 6)[..., :1], 3, axis=2)
    save_png(photo_dir / "gray_rgb.png", rgb_gray)
    events: list[ImageEvent] = []
    report = evaluate({}, find_eval_images(photo_dir), protocol="crop32", on_image=events.append)
    assert report.skipped_gray == ["gray_mode_l.png", "gray_rgb.png"]
    assert report.scored == 3 and report.examined == 5
    assert sorted(e.status for e in events) == ["scored"] * 3 + ["skipped"] * 2
    assert report.to_dict()["counts"]["skipped_gray"] == 2


def test_corrupt_file_is_listed_not_fatal(photo_dir: Path) -> None:
    (photo_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (photo_dir / "empty.jpg").write_bytes(b"")
    report = evaluate({}, find_eval_images(photo_dir), protocol="crop32")
    assert report.scored == 3
    assert [image for image, _ in report.failed] == ["broken.png", "empty.jpg"]
    assert report.failed[1][1] == f"{photo_dir / 'empty.jpg'}: empty file (0 bytes)"


def test_too_small_for_ssim_fails_alone_with_full_protocol(photo_dir: Path) -> None:
    save_png(photo_dir / "tiny.png", colour_photo(8, 30, 7))
    report = evaluate({}, find_eval_images(photo_dir), metrics=["ssim"], protocol="full")
    assert report.scored == 3
    assert report.failed == [
        ("tiny.png", f"{photo_dir / 'tiny.png'}: 30x8 is too small (ssim needs 11x11)")
    ]


def test_limit_takes_the_first_colour_images(photo_dir: Path) -> None:
    Image.fromarray(colour_photo(30, 30, 5)[..., 0]).save(photo_dir / "0_gray.png")
    report = evaluate({}, find_eval_images(photo_dir), protocol="crop32", limit=2)
    assert [image.image for image in report.images] == ["a.png", "b.png"]
    assert report.skipped_gray == ["0_gray.png"]
    with pytest.raises(UsageError, match="limit"):
        evaluate({}, find_eval_images(photo_dir), limit=0)


def test_full_protocol_keeps_each_size(photo_dir: Path) -> None:
    report = evaluate({"m": tiny_colorizer(0)}, find_eval_images(photo_dir), protocol="full")
    assert [image.shape for image in report.images] == [(40, 48), (36, 36), (50, 34)]
    assert report.to_dict()["protocol"] == {
        "name": "full",
        "crop_size": None,
        "description": report.protocol.description,
    }


def test_sixteen_bit_photos_are_scored(tmp_path: Path) -> None:
    wide = colour_photo(40, 40, 4).astype(np.uint16) * 257
    write_image(tmp_path / "wide.png", wide)
    report = evaluate({}, find_eval_images(tmp_path), metrics=["psnr"], protocol="crop32")
    assert report.scored == 1 and report.images[0].shape == (CROP, CROP)


def test_bad_arguments(photo_dir: Path) -> None:
    data = find_eval_images(photo_dir)
    with pytest.raises(UsageError, match="unknown metric"):
        evaluate({}, data, metrics=["psnr", "nope"])
    with pytest.raises(UsageError, match="reserved"):
        evaluate({"gray": tiny_colorizer(0)}, data)
    with pytest.raises(UsageError, match="unknown protocol"):
        evaluate({}, data, protocol="square")


def test_model_failure_is_a_model_error(photo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    colorizer = tiny_colorizer(0)

    def out_of_memory(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory\nmore details")

    monkeypatch.setattr(colorizer.model, "predict_ab", out_of_memory)
    with pytest.raises(ModelError, match=r"^model 'm' failed on a batch of 3: CUDA out of memory$"):
        evaluate({"m": colorizer}, find_eval_images(photo_dir), protocol="crop32")


# --------------------------------------------------------------------------- outputs


def test_to_dict_is_json_with_the_documented_keys(photo_dir: Path) -> None:
    report = evaluate(
        {"m": tiny_colorizer(0)},
        find_eval_images(photo_dir),
        metrics=METRIC_NAMES,
        protocol="crop32",
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) == {
        "colorcli_version",
        "protocol",
        "data",
        "counts",
        "metrics",
        "models",
        "original",
        "confidence",
        "skipped_gray",
        "failed",
        "seconds",
    }
    assert [model["name"] for model in data["models"]] == ["gray", "m"]
    assert data["models"][0]["kind"] == "baseline"
    for model in data["models"]:
        assert list(model["results"]) == list(METRIC_NAMES)
        for result in model["results"].values():
            assert set(result) == {"mean", "ci95_low", "ci95_high", "n"}
            assert result["ci95_low"] <= result["mean"] <= result["ci95_high"]
    assert set(data["original"]["colorfulness"]) == {"mean", "ci95_low", "ci95_high", "n"}


def test_per_image_csv_has_a_row_per_image_and_model(photo_dir: Path, tmp_path: Path) -> None:
    report = evaluate(
        {"one": tiny_colorizer(0), "two": tiny_colorizer(1)},
        find_eval_images(photo_dir),
        metrics=["psnr", "delta_cf"],
        protocol="crop32",
    )
    path = tmp_path / "out" / "per_image.csv"
    write_per_image_csv(report, path)
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3 * 3
    assert list(rows[0]) == ["image", "model", "psnr", "delta_cf"]
    assert [(r["image"], r["model"]) for r in rows[:3]] == [
        ("a.png", "gray"),
        ("a.png", "one"),
        ("a.png", "two"),
    ]
    assert float(rows[1]["psnr"]) == report.images[0].scores["one"]["psnr"]
    signed = [float(r["delta_cf"]) for r in rows if r["model"] == "two"]
    assert abs(np.mean(signed)) == pytest.approx(report.summary("two", "delta_cf").value)


def test_samples_write_one_grid_per_image(photo_dir: Path, tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    evaluate(
        {"one": tiny_colorizer(0), "two": tiny_colorizer(1)},
        find_eval_images(photo_dir),
        metrics=["psnr"],
        protocol="crop32",
        samples_dir=samples,
    )
    written = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*.png"))
    assert written == ["a.png", "b.png", "sub/c.png"]
    grid = read_image(samples / "a.png").pixels
    assert grid.shape == (SAMPLE_LABEL_HEIGHT + CROP, 4 * CROP, 3)  # gray | one | two | original
    original = centre_square_crop(read_image(photo_dir / "a.png").pixels, CROP)
    np.testing.assert_array_equal(grid[SAMPLE_LABEL_HEIGHT:, 3 * CROP :], original)


def test_sample_grid_labels_and_checks() -> None:
    tile = np.full((20, 30, 3), 128, dtype=np.uint8)
    grid = sample_grid([("gray", tile), ("a/very/long/checkpoint/name.pt", tile)])
    assert grid.shape == (SAMPLE_LABEL_HEIGHT + 20, 60, 3) and grid.dtype == np.uint8
    assert grid[:SAMPLE_LABEL_HEIGHT].max() > 0  # some label text was drawn
    with pytest.raises(ValueError, match="one shape"):
        sample_grid([("a", tile), ("b", tile[:10])])
