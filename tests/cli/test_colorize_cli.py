"""``colorcli colorize`` end to end with CliRunner: outputs, exit codes and every bad input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.cli.app import app
from colorcli.hub import default_model_name
from colorcli.models import get_model

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["colorize", *map(str, args)])


@pytest.fixture
def run_tiny(photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path):
    """``colorize`` over the photo folder into ``tmp_path/out`` with the tiny model, plus flags."""

    def run_with(*extra: str):
        return run(photo_folder, "-o", tmp_path / "out", "--model", tiny_checkpoint, *extra)

    return run_with


def _is_colour(path: Path) -> bool:
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return bool(np.abs(pixels[..., 0] - pixels[..., 2]).max() > 2)


def test_folder_is_colourized_same_names_and_sizes(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run(photo_folder, "-o", out, "--model", tiny_checkpoint, "--size", "32")
    assert result.exit_code == 0, result.output
    assert "3 done, 0 failed" in result.stdout
    for name in ("a.jpg", "b.png", "c.jpg"):
        source = Image.open(photo_folder / name)
        output = Image.open(out / name)
        assert output.size == source.size
        assert output.mode == "RGB"
        assert _is_colour(out / name)


def test_device_and_model_are_said(tiny_checkpoint: Path, run_tiny) -> None:
    result = run_tiny("--device", "cpu")
    assert result.exit_code == 0
    assert "device cpu" in result.stderr
    assert f"model {tiny_checkpoint} (unet)" in " ".join(result.stderr.split())


def test_the_default_model_is_named(photo_folder: Path, tmp_path: Path) -> None:
    result = run(photo_folder / "a.jpg", "-o", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert f"model default = {default_model_name()} (" in said


def test_absent_device_is_a_clear_error(run_tiny) -> None:
    result = run_tiny("--device", "cuda:7")
    if result.exit_code == 0:
        pytest.skip("this machine has 8 CUDA devices")
    assert result.exit_code == 1
    assert "Error: device 'cuda:7' was asked for but" in result.stderr


def test_existing_outputs_are_skipped_not_overwritten(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.jpg").write_bytes(b"precious")
    result = run(photo_folder, "-o", out, "--model", tiny_checkpoint)
    assert result.exit_code == 0
    assert "2 done, 1 skipped (output exists)" in result.stdout
    assert (out / "a.jpg").read_bytes() == b"precious"
    again = run(photo_folder, "-o", out, "--model", tiny_checkpoint, "--overwrite")
    assert again.exit_code == 0
    assert (out / "a.jpg").read_bytes() != b"precious"


def test_recursive_keeps_structure_suffix_ext_compare(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path, gray_image
) -> None:
    nested = photo_folder / "1950s" / "summer"
    nested.mkdir(parents=True)
    gray_image(20, 20).save(nested / "beach.png")
    out = tmp_path / "out"
    result = run(
        photo_folder,
        "-o",
        out,
        "--model",
        tiny_checkpoint,
        "--recursive",
        "--suffix",
        "_color",
        "--ext",
        "png",
        "--compare",
    )
    assert result.exit_code == 0, result.output
    assert (out / "1950s" / "summer" / "beach_color.png").is_file()
    assert (out / "a_color.png").is_file()
    compare = Image.open(out / "a_color_compare.png")
    assert compare.size == (80, 30)
    without = run(photo_folder, "-o", tmp_path / "flat", "--model", tiny_checkpoint)
    assert not (tmp_path / "flat" / "1950s").exists()
    assert "3 done" in without.stdout


def test_skip_color_and_saturation(tiny_checkpoint: Path, tmp_path: Path, gray_image) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    gray_image(16, 16).save(folder / "gray.png")
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(folder / "red.png")
    result = run(folder, "-o", tmp_path / "o1", "--model", tiny_checkpoint, "--skip-color")
    assert result.exit_code == 0
    assert "1 skipped (already colour)" in result.stdout
    result = run(folder, "-o", tmp_path / "o2", "--model", tiny_checkpoint, "--saturation", "0")
    assert result.exit_code == 0
    assert not _is_colour(tmp_path / "o2" / "gray.png")
    assert not _is_colour(tmp_path / "o2" / "red.png")  # recoloured from luminance only


def test_single_file_input(photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    result = run(photo_folder / "b.png", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 0
    assert (tmp_path / "out" / "b.png").is_file()


# --- bad input: each gets a one-line reason, the rest of the batch goes on -------------------


def test_empty_folder_is_a_usage_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run(tmp_path / "empty", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 2
    assert f"Error: no images found in {tmp_path / 'empty'}" in result.stderr


def test_missing_input_is_a_usage_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    result = run(tmp_path / "nope", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 2
    assert f"Error: input {tmp_path / 'nope'} does not exist" in result.stderr


def test_non_image_files_are_ignored(photo_folder: Path, run_tiny) -> None:
    (photo_folder / "notes.txt").write_text("grandma's album")
    (photo_folder / "Thumbs.db").write_bytes(b"\0" * 10)
    result = run_tiny()
    assert result.exit_code == 0
    assert "3 done, 0 failed, 2 non-image file(s) ignored" in result.stdout


def _bad_batch(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("zero.jpg", lambda: b"", "empty file"),
        ("text.jpg", lambda: b"this is not a picture at all", "not an image"),
        ("cut.jpg", None, "truncated"),
    ],
)
def test_bad_files_fail_alone(
    photo_folder: Path,
    tiny_checkpoint: Path,
    tmp_path: Path,
    name: str,
    make,
    reason: str,
    gray_image,
) -> None:
    if make is None:
        buffer = io.BytesIO()
        gray_image(64, 64).save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    else:
        data = make()
    (photo_folder / name).write_bytes(data)
    out = tmp_path / "out"
    result = run(photo_folder, "-o", out, "--model", tiny_checkpoint)
    assert result.exit_code == 1
    assert "3 done, 0 skipped" not in result.stdout
    assert "3 done, 1 failed" in result.stdout
    failure_lines = [line for line in result.stderr.splitlines() if name in line]
    assert failure_lines, result.stderr
    assert reason in failure_lines[-1].lower()
    assert not (out / name).exists()
    assert not list(out.glob(".*partial"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission")
def test_unreadable_file_fails_alone(photo_folder: Path, gray_image, run_tiny) -> None:
    locked = photo_folder / "locked.png"
    gray_image(8, 8).save(locked)
    locked.chmod(0)
    try:
        result = run_tiny()
    finally:
        locked.chmod(0o644)
    assert result.exit_code == 1
    assert "locked.png" in result.stderr


def test_dangling_link_fails_alone(photo_folder: Path, tmp_path: Path, run_tiny) -> None:
    (photo_folder / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    result = run_tiny()
    assert result.exit_code == 1
    assert "3 done, 1 failed" in result.stdout
    assert "gone.jpg" in result.stderr


def test_one_pixel_image(tiny_checkpoint: Path, tmp_path: Path) -> None:
    Image.new("L", (1, 1), 120).save(tmp_path / "dot.png")
    result = run(tmp_path / "dot.png", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "dot.png").size == (1, 1)


def test_cmyk_jpeg(tiny_checkpoint: Path, tmp_path: Path, gray_image) -> None:
    gray_image(24, 16).convert("CMYK").save(tmp_path / "print.jpg", quality=90)
    result = run(tmp_path / "print.jpg", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    output = Image.open(tmp_path / "out" / "print.jpg")
    assert output.mode == "RGB" and output.size == (24, 16)


def test_palette_png_with_transparency_keeps_alpha(
    tiny_checkpoint: Path, tmp_path: Path, gray_image
) -> None:
    image = gray_image(20, 10).convert("P")
    image.info["transparency"] = 0
    pixels = np.asarray(image).copy()
    pixels[:, :5] = 0
    image = Image.fromarray(pixels, mode="P")
    image.putpalette(gray_image(20, 10).convert("P").getpalette())
    image.save(tmp_path / "logo.png", transparency=0)
    result = run(tmp_path / "logo.png", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    output = Image.open(tmp_path / "out" / "logo.png")
    assert output.mode == "RGBA"
    alpha = np.asarray(output)[..., 3]
    assert (alpha[:, :5] == 0).all() and (alpha[:, 5:] == 255).all()


def test_16_bit_png_stays_16_bit(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import cv2

    pixels = (np.linspace(0, 65535, 30 * 20).reshape(20, 30)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "scan.png"), pixels)
    result = run(tmp_path / "scan.png", "-o", tmp_path / "out", "--model", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    output = cv2.imread(str(tmp_path / "out" / "scan.png"), cv2.IMREAD_UNCHANGED)
    assert output.dtype == np.uint16 and output.shape == (20, 30, 3)


def test_output_folder_that_is_a_file(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    result = run(photo_folder, "-o", target, "--model", tiny_checkpoint)
    assert result.exit_code == 2
    assert f"Error: output folder {target} exists and is not a folder" in result.stderr
    assert target.read_text() == "keep me"


def test_output_equal_to_input_without_suffix(photo_folder: Path, tiny_checkpoint: Path) -> None:
    before = {p.name: p.read_bytes() for p in photo_folder.iterdir()}
    result = run(photo_folder, "-o", photo_folder, "--model", tiny_checkpoint)
    assert result.exit_code == 2
    assert "is the input folder: add --suffix" in result.stderr
    assert {p.name: p.read_bytes() for p in photo_folder.iterdir()} == before


def test_output_equal_to_input_with_suffix_keeps_originals(
    photo_folder: Path, tiny_checkpoint: Path
) -> None:
    before = {p.name: p.read_bytes() for p in photo_folder.iterdir()}
    result = run(photo_folder, "-o", photo_folder, "--model", tiny_checkpoint, "--suffix", "_c")
    assert result.exit_code == 0, result.output
    for name, data in before.items():
        assert (photo_folder / name).read_bytes() == data
    assert (photo_folder / "a_c.jpg").is_file()


def test_bad_checkpoint_is_a_clear_error(photo_folder: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"garbage")
    result = run(photo_folder, "-o", tmp_path / "out", "--model", bogus)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert str(bogus) in result.stderr
    assert "Traceback" not in result.output


def test_unknown_ext_is_a_parse_error(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    result = run(photo_folder, "-o", tmp_path / "out", "--ext", "gif")
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("mode", "fill", "width", "height"),
    [
        ("L", 90, 3000, 2000),
        # 108 MP: only L and the output are full size, so memory does not scale with the model
        pytest.param("1", 1, 12000, 9000, marks=pytest.mark.slow, id="108MP"),
    ],
)
def test_large_image_keeps_its_size(
    mode: str, fill: int, width: int, height: int, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """The model sees 32 px; the join keeps every pixel."""
    Image.new(mode, (width, height), fill).save(tmp_path / "big.png")
    result = run(
        tmp_path / "big.png", "-o", tmp_path / "out", "--model", tiny_checkpoint, "--size", "32"
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "big.png") as output:
        assert output.size == (width, height)


def test_temperature_for_a_regression_model_is_one_clear_error(tmp_path: Path, run_tiny) -> None:
    result = run_tiny("--temperature", "0.3")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: this unet model regresses ab: a temperature applies only to models that "
        "decode colour classes by annealed mean"
    )
    assert not (tmp_path / "out").exists()


def test_temperature_is_used_by_a_colour_class_model(photo_folder: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = get_model("tiny", width=4, colors=8, decode="annealed")
    model.head.set_palette(torch.tensor([[x, y] for x in (-60, -20, 20, 60) for y in (-50, 50)]))
    checkpoint = tmp_path / "classes.pt"
    save_checkpoint(checkpoint, checkpoint_from_model(model))
    bold = run(
        photo_folder, "-o", tmp_path / "bold", "--model", checkpoint, "--temperature", "0.05"
    )
    plain = run(photo_folder, "-o", tmp_path / "plain", "--model", checkpoint, "--temperature", "1")
    assert bold.exit_code == 0 and plain.exit_code == 0, bold.output + plain.output
    assert _chroma(tmp_path / "bold" / "a.jpg") > _chroma(tmp_path / "plain" / "a.jpg")


def _chroma(path: Path) -> float:
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(float)
    return float(np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean())
