"""Maintainers: PSNR against the number of simulated hints, from a ``colorcli eval --json`` file.

Usage:
    uv run colorcli eval --data ../shared/datasets/photos/val --model lite0-photos \
        --model lite0-guided --hints 0,1,5,10,20 --own-reference --json > val_guided.json
    uv run python scripts/hint_curve.py val_guided.json --model lite0-guided \
        --out docs/images/hint_curve.png
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from PIL import Image, ImageDraw

from colorcli.atomic import atomic_write

WIDTH, HEIGHT, MARGIN = 560, 340, 56


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = {
        m["name"]: m["results"]["psnr"]["mean"]
        for m in json.loads(args.report.read_text())["models"]
    }
    gray = rows["gray"]
    points = [(0, rows[args.model])]
    for name, value in rows.items():
        match = re.fullmatch(re.escape(args.model) + r" \+(\d+) hints", name)
        if match:
            points.append((int(match.group(1)), value))
    points.sort()
    gains = [(n, value - gray) for n, value in points]
    reference = rows.get(f"{args.model} +reference")
    top = max([g for _, g in gains] + [4.5, (reference or gray) - gray]) + 0.5
    most = max(n for n, _ in gains)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)

    def xy(n: float, gain: float) -> tuple[float, float]:
        x = MARGIN + (WIDTH - 2 * MARGIN) * n / most
        y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * gain / top
        return x, y

    draw.line([xy(0, 0), xy(most, 0)], fill="black")
    draw.line([xy(0, 0), xy(0, top)], fill="black")
    for tick in range(int(top) + 1):
        x, y = xy(0, tick)
        draw.text((x - 30, y - 6), f"+{tick}", fill="black")
    for n, _ in gains:
        x, y = xy(n, 0)
        draw.text((x - 4, y + 6), str(n), fill="black")
    for n, target in ((10, 3.5), (20, 4.5)):
        x, y = xy(n, target)
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline="gray")
        draw.text((x + 6, y - 6), f"target {n}", fill="gray")
    draw.line([xy(n, g) for n, g in gains], fill=(192, 57, 43), width=3)
    for n, g in gains:
        x, y = xy(n, g)
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(192, 57, 43))
    if reference is not None:
        x, y = xy(0, reference - gray)
        draw.text(
            (x + 8, y - 6), f"own histogram as reference: +{reference - gray:.2f} dB", fill="navy"
        )
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill="navy")
    draw.text(
        (MARGIN, 12), f"{args.model}: PSNR over gray (dB) against simulated hints", fill="black"
    )
    draw.text((WIDTH // 2 - 40, HEIGHT - 24), "hints per photo", fill="black")
    atomic_write(args.out, lambda stream: image.save(stream, "PNG"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
