"""Benchmark inputs: real photos resized to a long side, saved as gray JPEGs in a temp folder.

The photos come from ``../shared/datasets/photos/val`` (next to the repository) when it
exists, else from the builtin samples in ``src/colorcli/samples/color``. Nothing is
written inside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO.parent / "shared" / "datasets" / "photos" / "val"
BUILTIN_PHOTOS = REPO / "src" / "colorcli" / "samples" / "color"
JPEG_QUALITY = 90
DISTINCT_LIMIT = 12
"""Past this many images a folder repeats its files as hard links (same bytes, new names)."""


def source_photos() -> tuple[list[Path], str]:
    """The photos to build folders from, and where they came from (for the report)."""
    for folder, label in ((SHARED_PHOTOS, "shared validation photos"), (BUILTIN_PHOTOS, "")):
        photos = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".png"))
        if photos:
            return photos, label or f"the {len(photos)} builtin samples (no ../shared)"
    raise SystemExit(f"no photos in {SHARED_PHOTOS} or {BUILTIN_PHOTOS}")


def make_folder(
    root: Path, side: int, count: int, photos: list[Path], *, distinct: int = DISTINCT_LIMIT
) -> Path:
    """``count`` gray JPEGs with a long side of ``side`` px in ``root/<side>px-<count>``.

    Photos are upscaled (bicubic) or downscaled (Lanczos) as needed; at most ``distinct``
    different files are encoded, the rest are hard links to them.
    """
    folder = root / f"{side}px-{count}"
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = folder / f"{index:04}.jpg"
        if index >= distinct:
            os.link(folder / f"{index % distinct:04}.jpg", path)
            continue
        with Image.open(photos[index % len(photos)]) as photo:
            gray = photo.convert("L")
        scale = side / max(gray.size)
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        method = Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS
        gray.resize(size, method).save(path, quality=JPEG_QUALITY)
    return folder
