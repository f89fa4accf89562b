"""Maintainers: pictures of scribble hints, a reference photo and the confidence map.

Usage:
    uv run python scripts/guidance_pictures.py --out docs/images/guidance.jpg

Three rows on the shipped sample photos (scikit-image's data, public domain / CC0), each
with its own column labels: a scribble layer painted in code (as a user would in any
editor, on a transparent layer) and what ``--hints`` makes of it; a reference photo and
what ``--reference`` makes of the gray input; the confidence map ``--save-confidence``
writes. The same model colours every column.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

import numpy as np
from gallery import gray_version  # scripts/gallery.py: the L the models see, as RGB
from PIL import Image, ImageDraw

from colorcli.atomic import atomic_write
from colorcli.checkpoint import load_model
from colorcli.imageio import read_image
from colorcli.pipeline import Colorizer

HEIGHT = 200
LABEL = 20
GAP = 4

SCRIBBLES = [
    # (colour, width as a fraction of the side, points as fractions of width and height)
    ("#b02020", 0.025, [(0.12, 0.55), (0.2, 0.75), (0.4, 0.88), (0.65, 0.86), (0.8, 0.7)]),
    ("#a0581c", 0.03, [(0.4, 0.38), (0.5, 0.42), (0.6, 0.38)]),
    ("#6a4a30", 0.03, [(0.05, 0.1), (0.2, 0.05), (0.5, 0.05), (0.85, 0.08)]),
]
"""The coffee photo's strokes: the saucer red, the coffee brown, the wooden table."""


def _sample(name: str) -> np.ndarray:
    return read_image(Path(str(files("colorcli") / "samples" / "color" / f"{name}.jpg"))).pixels


def _scribble_layer(height: int, width: int) -> np.ndarray:
    """``(H, W, 4)`` uint8: the strokes of :data:`SCRIBBLES` on a transparent layer."""
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    side = max(width, height)
    for colour, thickness, points in SCRIBBLES:
        xy = [(x * (width - 1), y * (height - 1)) for x, y in points]
        draw.line(xy, fill=colour, width=max(2, round(thickness * side)), joint="curve")
    return np.asarray(layer)


def _over(gray: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """The scribble layer drawn over the gray photo, as the user sees it in an editor."""
    base = Image.fromarray(gray).convert("RGBA")
    return np.asarray(Image.alpha_composite(base, Image.fromarray(layer)).convert("RGB"))


def _tile(pixels: np.ndarray) -> Image.Image:
    image = Image.fromarray(pixels)
    return image.resize((round(image.width * HEIGHT / image.height), HEIGHT), Image.LANCZOS)


def _rows(colorizer: Colorizer) -> list[tuple[list[str], list[np.ndarray]]]:
    coffee = _sample("coffee")
    gray = gray_version(coffee)
    layer = _scribble_layer(*gray.shape[:2])
    scribbled = colorizer.colorize(gray, hints=layer)
    astronaut = _sample("astronaut")
    gray_astronaut = gray_version(astronaut)
    reference = _sample("coffee")
    cat = _sample("chelsea")
    gray_cat = gray_version(cat)
    sure = colorizer.confidence_map(gray_cat)
    return [
        (
            ["gray input", "scribbles (--hints FILE)", "colourized with them", "original"],
            [gray, _over(gray, layer), scribbled, coffee],
        ),
        (
            ["gray input", "automatic", "reference photo", "with --reference"],
            [
                gray_astronaut,
                colorizer.colorize(gray_astronaut),
                reference,
                colorizer.colorize(gray_astronaut, reference=reference),
            ],
        ),
        (
            ["gray input", "automatic", "confidence (white = sure)", "original"],
            [gray_cat, colorizer.colorize(gray_cat), np.repeat(sure[:, :, None], 3, 2), cat],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a guided model (default: the default)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = [
        (labels, [_tile(pixels) for pixels in tiles])
        for labels, tiles in _rows(Colorizer(load_model(args.model)))
    ]
    width = max(sum(tile.width + GAP for tile in tiles) for _, tiles in rows)
    sheet = Image.new("RGB", (width, len(rows) * (LABEL + HEIGHT + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for labels, tiles in rows:
        x = 0
        for label, tile in zip(labels, tiles, strict=True):
            draw.text((x + 4, y + 5), label, fill="black")
            sheet.paste(tile, (x, y + LABEL))
            x += tile.width + GAP
        y += LABEL + HEIGHT + GAP
    atomic_write(args.out, lambda stream: sheet.save(stream, "JPEG", quality=90))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
