"""Maintainers: a before/after gallery, one row per colour photo: gray | each model | original.

Usage:
    uv run python scripts/gallery.py ../shared/datasets/photos/val --count 8 \
        --models unet16-photos vivid --out gallery/val.jpg
    uv run python scripts/gallery.py src/colorcli/samples/color \
        --models default vivid --out docs/images/gallery.jpg

Each photo's CIELAB lightness is what the models see (the gray column shows it); the
models colourize at their own inference size and the L join keeps the photo's resolution;
every tile is then scaled to ``--height`` pixels. From a folder, ``--count`` photos are
taken evenly spaced through the sorted file names, so the choice is repeatable and not
picked by hand. Photos of ``../shared/datasets`` must not be committed (see its
PROVENANCE.md): write their gallery outside the repository or under an ignored folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from colorcli.atomic import atomic_write
from colorcli.checkpoint import load_model
from colorcli.color import gray_lab, lab_to_rgb, rgb_to_lightness
from colorcli.imageio import IMAGE_EXTENSIONS, read_image
from colorcli.pipeline import Colorizer

LABEL_HEIGHT = 22
GAP = 4


def pick_photos(sources: list[Path], count: int) -> list[Path]:
    """Files as given; from a folder, ``count`` files evenly spaced through its sorted names."""
    photos: list[Path] = []
    for source in sources:
        if not source.is_dir():
            photos.append(source)
            continue
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if count and len(files) > count:
            step = len(files) / count
            files = [files[int(i * step + step / 2)] for i in range(count)]
        photos.extend(files)
    return photos


def gray_version(pixels: np.ndarray) -> np.ndarray:
    """The (H, W, 3) uint8 gray image the models see: L with ab = 0."""
    rgb = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0
    gray = lab_to_rgb(gray_lab(rgb_to_lightness(rgb)))
    return (gray.clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).numpy()


def tile(pixels: np.ndarray, height: int) -> Image.Image:
    image = Image.fromarray(pixels)
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def compose(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    """Rows of equal-height tiles under one label row; columns as wide as their widest tile."""
    widths = [max(row[c].width for row in rows) for c in range(len(labels))]
    height = LABEL_HEIGHT + sum(row[0].height + GAP for row in rows)
    sheet = Image.new("RGB", (sum(widths) + GAP * (len(widths) - 1), height), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for label, width in zip(labels, widths, strict=True):
        draw.text((x + 4, 5), label, fill="black")
        x += width + GAP
    y = LABEL_HEIGHT
    for row in rows:
        x = 0
        for image, width in zip(row, widths, strict=True):
            sheet.paste(image, (x + (width - image.width) // 2, y))
            x += width + GAP
        y += row[0].height + GAP
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, nargs="+", help="colour photos or folders")
    parser.add_argument("--models", nargs="+", default=["default"], help="names or paths")
    parser.add_argument("--count", type=int, default=8, help="photos taken from each folder")
    parser.add_argument("--height", type=int, default=160, help="tile height in pixels")
    parser.add_argument("--out", type=Path, required=True, help="JPEG to write")
    args = parser.parse_args()

    colorizers = [Colorizer(load_model(name)) for name in args.models]
    rows: list[list[Image.Image]] = []
    for path in pick_photos(args.sources, args.count):
        pixels = read_image(path).pixels
        if pixels.dtype != np.uint8:
            pixels = (pixels // 257).astype(np.uint8)
        columns = [gray_version(pixels)]
        columns += [colorizer.colorize(pixels) for colorizer in colorizers]
        rows.append([tile(column, args.height) for column in [*columns, pixels]])
        print(path)
    sheet = compose(rows, ["gray (model input)", *args.models, "original"])
    atomic_write(args.out, lambda stream: sheet.save(stream, "JPEG", quality=90))
    print(f"wrote {args.out} ({len(rows)} photos)")


if __name__ == "__main__":
    main()
