"""Maintainers: pictures of colour hints: gray | automatic | hinted (marked) | original.

Usage:
    uv run python scripts/hint_gallery.py --out docs/images/hints.jpg

Each row is one shipped sample photo (scikit-image's data, public domain / CC0) with the
hints written below, in the ``--hint`` syntax of ``colorcli colorize``; the hinted column
marks every hint with a ring in its colour. The same model colours both columns, so the
difference is the hints alone.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from gallery import gray_version  # scripts/gallery.py: the L the models see, as RGB
from PIL import Image, ImageDraw

from colorcli.atomic import atomic_write
from colorcli.checkpoint import load_model
from colorcli.hints import parse_hint
from colorcli.imageio import read_image
from colorcli.pipeline import Colorizer

EXAMPLES = {
    "astronaut": ["0.3,0.9=royalblue"],
    "coffee": ["0.5,0.3=#e0c020", "0.2,0.8=darkgreen"],
    "chelsea": ["0.5,0.5=#708090", "0.85,0.15=#d04040"],
}
"""Sample photo -> the hints drawn on it (fractions of width and height)."""
HEIGHT = 200
LABEL = 22


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a guided model (default: the default)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    colorizer = Colorizer(load_model(args.model))
    rows = []
    for name, texts in EXAMPLES.items():
        path = files("colorcli") / "samples" / "color" / f"{name}.jpg"
        original = read_image(Path(str(path))).pixels
        gray_input = gray_version(original)
        points = [parse_hint(text) for text in texts]
        automatic = colorizer.colorize(gray_input)
        hinted = colorizer.colorize(gray_input, hints=points)
        marked = Image.fromarray(hinted)
        draw = ImageDraw.Draw(marked)
        radius = max(6, marked.width // 40)
        for point in points:
            x, y = point.x * (marked.width - 1), point.y * (marked.height - 1)
            for width, colour in ((radius // 2 + 2, "white"), (radius // 3, point.rgb)):
                draw.ellipse(
                    (x - radius, y - radius, x + radius, y + radius), outline=colour, width=width
                )
        tiles = [Image.fromarray(gray_input), Image.fromarray(automatic), marked]
        tiles.append(Image.fromarray(original))
        rows.append(([_scaled(tile) for tile in tiles], "  ".join(f"--hint {t}" for t in texts)))
        print(name)
    labels = ["gray input", "automatic", "with hints (marked)", "original"]
    width = max(sum(tile.width for tile in tiles) for tiles, _ in rows) + 4 * 3
    sheet = Image.new("RGB", (width, LABEL + len(rows) * (HEIGHT + LABEL + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for label, tile in zip(labels, rows[0][0], strict=True):
        draw.text((x + 4, 5), label, fill="black")
        x += tile.width + 4
    y = LABEL
    for tiles, caption in rows:
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, y))
            x += tile.width + 4
        draw.text((4, y + HEIGHT + 4), caption, fill="black")
        y += HEIGHT + LABEL + 4
    atomic_write(args.out, lambda stream: sheet.save(stream, "JPEG", quality=90))
    print(f"wrote {args.out}")


def _scaled(image: Image.Image) -> Image.Image:
    width = max(1, round(image.width * HEIGHT / image.height))
    return image.resize((width, HEIGHT), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    main()
