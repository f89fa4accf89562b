"""The Kaggle "image colorization" layout: 8-bit Lab planes in ``.npy`` arrays, memory-mapped.

Accepted layout, relative to the data set folder ``root``:

* L: ``gray_scale.npy``, else ``l/gray_scale.npy`` (or ``L/``); shape ``(N, H, W)`` or
  ``(N, H, W, 1)``, uint8, ``L8 = L * 255 / 100``.
* ab: in the first of ``ab/ab/``, ``ab/``, the L file's folder and ``root`` that has
  them, the files ``ab<k>.npy`` (``ab1.npy``, ``ab2.npy``, …) concatenated in
  numeric order of ``k``, or else a single ``ab.npy``; each ``(n_k, H, W, 2)``
  uint8 with ``a8 = a + 128``, ``b8 = b + 128`` (OpenCV's 8-bit Lab scaling).

When the ab rows and the L rows disagree in number, the shorter count is used and a
note says so. Arrays are opened with ``np.load(mmap_mode="r")`` (pickled object
arrays are refused) and re-opened lazily in each DataLoader worker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from colorcli.data.base import ColorDataset, DataInfo, DatasetBundle, check_options
from colorcli.errors import DataError

_AB_NUMBERED = re.compile(r"ab(\d+)\.npy")


def find_lab_npy(root: Path) -> tuple[Path, list[Path]] | None:
    """``(L file, ab files)`` of a LAB ``.npy`` data set in ``root``, or None if there is none.

    Raises:
        DataError: an L file exists but no ab file goes with it.
    """
    gray = next(
        (
            path
            for path in (root / "gray_scale.npy", root / "l" / "gray_scale.npy")
            if path.is_file()
        ),
        None,
    )
    if gray is None and (root / "L" / "gray_scale.npy").is_file():
        gray = root / "L" / "gray_scale.npy"
    if gray is None:
        return None
    for folder in (root / "ab" / "ab", root / "ab", gray.parent, root):
        if not folder.is_dir():
            continue
        numbered = sorted(
            (int(match.group(1)), path)
            for path in folder.iterdir()
            if (match := _AB_NUMBERED.fullmatch(path.name)) and path.is_file()
        )
        if numbered:
            return gray, [path for _, path in numbered]
        if (folder / "ab.npy").is_file():
            return gray, [folder / "ab.npy"]
    raise DataError(f"{gray}: found the L array but no ab1.npy, ab2.npy, … or ab.npy next to it")


def _open_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error})") from error
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path}: expected one array, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 values, got {array.dtype}")
    return array


def _check_arrays(gray_path: Path, ab_paths: Sequence[Path]) -> tuple[int, list[int], list[str]]:
    """Validate shapes; return the usable row count, the ab row counts and notes."""
    gray = _open_array(gray_path)
    if not (gray.ndim == 3 or (gray.ndim == 4 and gray.shape[3] == 1)):
        raise DataError(f"{gray_path}: expected shape (N, H, W), got {gray.shape}")
    height, width = gray.shape[1:3]
    ab_rows: list[int] = []
    for path in ab_paths:
        ab = _open_array(path)
        if ab.ndim != 4 or ab.shape[1:] != (height, width, 2):
            raise DataError(
                f"{path}: expected shape (n, {height}, {width}, 2) to match {gray_path.name}, "
                f"got {ab.shape}"
            )
        ab_rows.append(int(ab.shape[0]))
    notes = []
    usable = min(int(gray.shape[0]), sum(ab_rows))
    if usable != gray.shape[0] or usable != sum(ab_rows):
        notes.append(
            f"{gray_path.name} has {gray.shape[0]:,} images but the ab files have "
            f"{sum(ab_rows):,}; using the first {usable:,}"
        )
    return usable, ab_rows, notes


class LabNpyDataset(ColorDataset):
    """Rows of the LAB ``.npy`` arrays as Lab samples (see :class:`ColorDataset`).

    Args:
        gray_path: the ``(N, H, W)`` uint8 L8 array.
        ab_paths: the ``(n_k, H, W, 2)`` uint8 ab8 arrays, concatenated in order.
        indices: rows (global, over the concatenation) that make up this data set.
        size: side S of the samples.
        augment: random square crop + flip (True) or resize + centre crop (False).
        seed: augmentation seed.
        include_rgb: add ``rgb`` (``lab_to_rgb`` of the Lab sample) to each item.
    """

    color_space = "lab8"

    def __init__(
        self,
        gray_path: str | Path,
        ab_paths: Sequence[str | Path],
        indices: Sequence[int] | np.ndarray,
        size: int,
        *,
        ab_rows: Sequence[int] | None = None,
        augment: bool = True,
        seed: int = 0,
        include_rgb: bool = False,
    ) -> None:
        super().__init__(size, augment=augment, seed=seed, include_rgb=include_rgb)
        self.gray_path = str(gray_path)
        self.ab_paths = [str(path) for path in ab_paths]
        self.indices = np.asarray(indices, dtype=np.int64)
        if ab_rows is None:
            ab_rows = [int(_open_array(Path(path)).shape[0]) for path in self.ab_paths]
        self._offsets = np.concatenate(([0], np.cumsum(ab_rows))).astype(np.int64)
        self._arrays: tuple[np.ndarray, list[np.ndarray]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps are not sent to workers (pickling one copies the whole array);
        # each process opens its own on first use.
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def _locate(self, index: int) -> tuple[int, int, int]:
        row = int(self.indices[index])
        part = int(np.searchsorted(self._offsets, row, side="right")) - 1
        return row, part, row - int(self._offsets[part])

    def source(self, index: int) -> str:
        row, part, part_row = self._locate(index)
        return f"{self.gray_path}[{row}] + {self.ab_paths[part]}[{part_row}]"

    def _read(self, index: int) -> np.ndarray:
        if self._arrays is None:
            self._arrays = (
                np.load(self.gray_path, mmap_mode="r", allow_pickle=False),
                [np.load(path, mmap_mode="r", allow_pickle=False) for path in self.ab_paths],
            )
        gray, abs_ = self._arrays
        row, part, part_row = self._locate(index)
        lightness = np.asarray(gray[row]).reshape(gray.shape[1], gray.shape[2], 1)
        return np.concatenate((lightness, np.asarray(abs_[part][part_row])), axis=2)


def open_lab_npy(
    root: Path,
    *,
    size: int,
    val_split: float = 0.05,
    seed: int = 0,
    augment: bool = True,
    limit: int | None = None,
) -> DatasetBundle:
    """Open a LAB ``.npy`` data set (layout in the module docstring) with a seeded val split.

    Raises:
        DataError: missing, unreadable or mismatched arrays.
    """
    check_options(size=size, val_split=val_split, limit=limit)
    found = find_lab_npy(root)
    if found is None:
        raise DataError(f"{root}: no gray_scale.npy or l/gray_scale.npy found")
    gray_path, ab_paths = found
    usable, ab_rows, notes = _check_arrays(gray_path, ab_paths)
    if usable == 0:
        raise DataError(f"{gray_path}: the arrays hold no images")
    n_val = round(usable * val_split)
    if val_split > 0 and usable >= 2:
        n_val = min(max(n_val, 1), usable - 1)
    order = np.random.default_rng(seed % 2**63).permutation(usable)
    val_rows, train_rows = order[:n_val], order[n_val:]
    if limit is not None:
        val_rows, train_rows = val_rows[:limit], train_rows[:limit]
    train_rows, val_rows = np.sort(train_rows), np.sort(val_rows)
    if len(val_rows) == 0:
        notes.append("the val split is empty")
    info = DataInfo(kind="lab-npy", root=root, counts=(len(train_rows), len(val_rows)), notes=notes)
    common: dict[str, Any] = {"ab_rows": ab_rows, "seed": seed}
    train = LabNpyDataset(gray_path, ab_paths, train_rows, size, augment=augment, **common)
    val = LabNpyDataset(
        gray_path, ab_paths, val_rows, size, augment=False, include_rgb=True, **common
    )
    return DatasetBundle(train=train, val=val, info=info)
