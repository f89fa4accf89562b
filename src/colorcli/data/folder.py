"""Folders of colour photographs: find them, skip grayscale and broken files, split, serve.

Three layouts are understood (see :func:`colorcli.data.open_dataset`):

* ``folder``: images anywhere below the root; a seeded random ``val_split`` goes to val.
* ``split-folder``: ``root/train/`` and ``root/val/`` (or ``valid/``, ``validation/``,
  ``test/``, first found), used as given.
* ``class-split-folder``: ``root/<class>/train/`` and ``root/<class>/{val,…,test}/``
  for every sub-folder of the root (as ``shared/datasets/cifar10``).

Images are files with a suffix in :data:`IMAGE_SUFFIXES` (any case), which is
:data:`colorcli.imageio.IMAGE_EXTENSIONS`. Names starting with a dot (hidden files and
folders, macOS ``._*`` resource forks) are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from colorcli.data.base import (
    READ_ERRORS,
    ColorDataset,
    DataInfo,
    DatasetBundle,
    check_class_names,
    check_options,
)
from colorcli.data.scan_cache import ScanCache, scan_cache_path
from colorcli.errors import DataError
from colorcli.imageio import ALPHA_MODES, GRAY_MODES, IMAGE_EXTENSIONS

IMAGE_SUFFIXES: frozenset[str] = IMAGE_EXTENSIONS
"""Suffixes of image files in a folder: :data:`colorcli.imageio.IMAGE_EXTENSIONS` itself."""

VAL_FOLDER_NAMES: tuple[str, ...] = ("val", "valid", "validation", "test")
"""Folder names taken as the validation half of a ``train/`` + val layout, in order."""

GRAYSCALE_CHROMA: float = 6.0
"""An image whose 99th-percentile chroma ``sqrt(a² + b²)`` is below this is grayscale.

Same test and threshold as step 4 of ``shared/datasets/PROVENANCE.md``, measured here
on a thumbnail of at most :data:`THUMBNAIL_SIDE` pixels (JPEGs decoded in draft mode,
i.e. at 1/2, 1/4 or 1/8 scale by the decoder itself, which makes the scan cheap).
Sepia or tinted monochrome prints have chroma above the threshold and are kept.
"""

THUMBNAIL_SIDE: int = 64


def list_images(root: Path) -> list[Path]:
    """Image files below ``root`` (recursive), sorted by relative path, hidden names skipped."""
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [name for name in subdirs if not name.startswith(".")]
        found.extend(
            Path(directory) / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB; transparency is composited on white."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        scale = 257.0 if image.mode.startswith("I;16") or values.max() > 255 else 1.0
        gray = np.clip(np.rint(values / scale), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def read_rgb(path: str | Path, min_side: int | None = None) -> np.ndarray:
    """Decode an image file as sRGB.

    Args:
        path: image file.
        min_side: when given, JPEGs are decoded in draft mode at the smallest 1/2, 1/4
            or 1/8 scale whose both sides stay >= ``min_side`` (much faster for big photos).

    Returns:
        ``(H, W, 3)`` uint8 array, EXIF orientation applied, alpha composited on white.

    Raises:
        OSError, ValueError, ...: any of ``colorcli.data.base.READ_ERRORS``.
    """
    with Image.open(path) as image:
        if min_side is not None and image.format == "JPEG":
            image.draft("RGB", (min_side, min_side))
        upright = ImageOps.exif_transpose(image)
        return np.array(_to_rgb(upright))


def chroma_percentile(rgb: np.ndarray, q: float = 99.0) -> float:
    """The ``q``-th percentile of chroma ``sqrt(a² + b²)`` of an ``(H, W, 3)`` uint8 sRGB image.

    Uses OpenCV's float sRGB → CIELAB (D65) conversion, which agrees with
    :func:`colorcli.color.rgb_to_lab` to within 0.4 and is much faster on tiny images.
    """
    lab = cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    chroma = np.hypot(lab[..., 1], lab[..., 2]).ravel()
    # np.percentile's linear interpolation, via a partial sort (several times faster here).
    position = q / 100.0 * (chroma.size - 1)
    low = int(position)
    high = min(low + 1, chroma.size - 1)
    ordered = np.partition(chroma, (low, high))
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def is_grayscale_image(image: Image.Image, threshold: float = GRAYSCALE_CHROMA) -> bool:
    """Whether a PIL image carries no colour worth learning from.

    True for single-channel modes (1, L, LA, I, I;16, F) and for images whose
    99th-percentile chroma, on a thumbnail of at most :data:`THUMBNAIL_SIDE` px, is
    below ``threshold`` (see :data:`GRAYSCALE_CHROMA`).
    """
    if image.mode in GRAY_MODES:
        return True
    thumbnail = _to_rgb(image)
    if max(thumbnail.size) > THUMBNAIL_SIDE:
        thumbnail = thumbnail.copy()
        thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    return chroma_percentile(np.array(thumbnail)) < threshold


def _check_file(path: Path) -> str:
    """``"color"``, ``"grayscale"``, or the reason the file cannot be read."""
    try:
        with Image.open(path) as image:
            if image.mode in GRAY_MODES:
                return "grayscale"
            if image.format == "JPEG":
                image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            image.load()
            return "grayscale" if is_grayscale_image(image) else "color"
    except READ_ERRORS as error:
        return f"{type(error).__name__}: {error}"


@dataclass
class ScanResult:
    """Outcome of :func:`scan_images`."""

    color: list[Path] = field(default_factory=list)
    grayscale: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def scan_images(
    paths: Sequence[Path], limit: int | None = None, cache: ScanCache | None = None
) -> ScanResult:
    """Sort ``paths`` into colour, grayscale and unreadable, decoding small thumbnails.

    Files are checked in a thread pool (PIL and OpenCV work without the GIL). With
    ``limit``, files are checked in the given order only until ``limit`` colour images
    are found. Output lists keep the input order. ``cache`` (read and updated, not
    saved) skips files whose outcome is already known.
    """
    result = ScanResult()
    workers = min(8, (os.cpu_count() or 1) + 1)
    chunk = max(len(paths) if limit is None else 4 * workers, 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(paths), chunk):
            batch = paths[start : start + chunk]
            known = [None if cache is None else cache.get(path) for path in batch]
            todo = [path for path, status in zip(batch, known, strict=True) if status is None]
            checked = dict(zip(todo, pool.map(_check_file, todo), strict=True))
            for path, cached in zip(batch, known, strict=True):
                if limit is not None and len(result.color) >= limit:
                    return result
                status = cached if cached is not None else checked[path]
                if cache is not None and cached is None:
                    cache.put(path, status)
                if status == "color":
                    result.color.append(path)
                elif status == "grayscale":
                    result.grayscale.append(path)
                else:
                    result.unreadable.append((path, status))
    return result


def open_scan_cache(root: Path) -> ScanCache:
    """The scan cache of the data set folder ``root`` with this module's check settings."""
    settings = {"chroma": GRAYSCALE_CHROMA, "thumbnail": THUMBNAIL_SIDE}
    return ScanCache(scan_cache_path(root), settings)


class ImageFolderDataset(ColorDataset):
    """Colour image files as Lab samples (see :class:`~colorcli.data.base.ColorDataset`).

    Args:
        paths: image files; checked beforehand by :func:`scan_images`.
        size: side S of the samples.
        augment: random square crop + flip (True) or resize + centre crop (False).
        seed: augmentation seed.
        include_rgb: add the ``rgb`` tensor to each item.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        size: int,
        *,
        augment: bool = True,
        seed: int = 0,
        include_rgb: bool = False,
    ) -> None:
        super().__init__(size, augment=augment, seed=seed, include_rgb=include_rgb)
        self.paths = [str(path) for path in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def source(self, index: int) -> str:
        return self.paths[index]

    def _read(self, index: int) -> np.ndarray:
        return read_rgb(self.paths[index], min_side=self.transform.min_source_side)


def find_split_folders(root: Path) -> tuple[Path, Path] | None:
    """``(root/train, root/<val>)`` when ``root`` has a train folder and a val/test folder."""
    train = root / "train"
    if not train.is_dir():
        return None
    for name in VAL_FOLDER_NAMES:
        if (root / name).is_dir():
            return train, root / name
    return None


def find_class_split_folders(root: Path) -> dict[str, tuple[Path, Path]] | None:
    """``{class: (train, val)}`` when every sub-folder of ``root`` has its own split."""
    subdirs = sorted(
        path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")
    )
    splits = {path.name: find_split_folders(path) for path in subdirs}
    if not splits or any(split is None for split in splits.values()):
        return None
    return {name: split for name, split in splits.items() if split is not None}


def _select_classes(root: Path, files: list[Path], classes: Sequence[str] | None) -> list[Path]:
    """Keep the files whose first folder below ``root`` is one of ``classes``."""
    if classes is None:
        return files
    available = sorted(
        path.name for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")
    )
    missing = [name for name in classes if name not in available]
    if missing:
        have = ", ".join(available) if available else "none"
        raise DataError(
            f"{root}: no class folder named {', '.join(missing)} (class folders: {have})"
        )
    wanted = set(classes)
    return [path for path in files if path.relative_to(root).parts[0] in wanted]


def _seeded_order(items: Sequence[Path], seed: int) -> list[Path]:
    order = np.random.default_rng(seed % 2**63).permutation(len(items))
    return [items[int(i)] for i in order]


def _scan_split(
    files: Sequence[Path], seed: int, limit: int | None, cache: ScanCache | None
) -> ScanResult:
    """Scan a split; with ``limit``, a seeded random subset of ``limit`` colour images."""
    if limit is None:
        return scan_images(files, cache=cache)
    result = scan_images(_seeded_order(files, seed), limit=limit, cache=cache)
    result.color.sort()
    return result


def open_image_folder(
    root: Path,
    *,
    size: int,
    val_split: float = 0.05,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    augment: bool = True,
    limit: int | None = None,
    use_cache: bool = True,
) -> DatasetBundle:
    """Open a folder of colour images in any of the three layouts of this module.

    Args:
        root: the folder.
        size: side S of the samples.
        val_split: fraction of the images held out for val in the plain layout
            (seeded by ``seed``); ignored, with a note, when the folder has its own split.
        seed: seeds the split, the ``limit`` subset and augmentation.
        classes: keep only these class sub-folders (first folder level below the root,
            below ``train/`` and ``val/``, or the class folders of a class-split layout).
        augment: random crops and flips for train (val is never augmented).
        limit: keep a seeded random subset of at most this many images per split.
        use_cache: reuse and update the folder's scan cache (``colorcli.data.scan_cache``).

    Raises:
        DataError: no image files, no colour images, or an unknown class.
    """
    check_options(size=size, val_split=val_split, limit=limit)
    notes: list[str] = []
    split = find_split_folders(root)
    class_splits = None if split is not None else find_class_split_folders(root)
    if split is not None:
        kind = "split-folder"
        train_files = _select_classes(split[0], list_images(split[0]), classes)
        val_files = _select_classes(split[1], list_images(split[1]), classes)
    elif class_splits is not None:
        kind = "class-split-folder"
        if classes is not None:
            check_class_names(
                classes,
                class_splits.keys(),
                where=root,
                unknown_as="no class folder named",
                known_as="class folders",
            )
            class_splits = {name: class_splits[name] for name in classes}
        train_files = [path for tr, _ in class_splits.values() for path in list_images(tr)]
        val_files = [path for _, va in class_splits.values() for path in list_images(va)]
    else:
        kind = "folder"
        files = _select_classes(root, list_images(root), classes)
        n_val = round(len(files) * val_split)
        if val_split > 0 and len(files) >= 2:
            n_val = min(max(n_val, 1), len(files) - 1)
        shuffled = _seeded_order(files, seed)
        val_files, train_files = sorted(shuffled[:n_val]), sorted(shuffled[n_val:])
    if split is not None:
        notes.append(f"val is the {split[1].name}/ folder (val_split not used)")
    elif class_splits is not None:
        notes.append("val is each class's own val/test folder (val_split not used)")

    if not train_files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        where = split[0] if split is not None else root
        raise DataError(f"{where}: no image files ({suffixes}) found")
    cache = open_scan_cache(root) if use_cache else None
    train_scan = _scan_split(train_files, seed, limit, cache)
    val_scan = _scan_split(val_files, seed + 1, limit, cache)
    if cache is not None:
        cache.save()
    if not train_scan.color:
        raise DataError(
            f"{root}: no colour images for training ({len(train_scan.grayscale)} grayscale, "
            f"{len(train_scan.unreadable)} unreadable)"
        )
    if not val_scan.color:
        notes.append("the val split is empty")
    unreadable = [(str(path), reason) for path, reason in train_scan.unreadable]
    unreadable += [(str(path), reason) for path, reason in val_scan.unreadable]
    info = DataInfo(
        kind=kind,
        root=root,
        counts=(len(train_scan.color), len(val_scan.color)),
        skipped_grayscale=len(train_scan.grayscale) + len(val_scan.grayscale),
        skipped_unreadable=len(unreadable),
        unreadable=unreadable,
        classes=None if classes is None else list(classes),
        notes=notes,
    )
    train = ImageFolderDataset(train_scan.color, size, augment=augment, seed=seed)
    val = ImageFolderDataset(val_scan.color, size, augment=False, seed=seed, include_rgb=True)
    return DatasetBundle(train=train, val=val, info=info)
