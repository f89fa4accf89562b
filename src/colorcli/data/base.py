"""What every colorcli data set shares: the sample format, seeding, read-failure fallback, info."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from colorcli.data.transforms import SquareTransform, lab8_to_sample, rgb8_to_sample
from colorcli.errors import DataError, UsageError

logger = logging.getLogger("colorcli.data")

READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # missing, unreadable or truncated files (PIL's UnidentifiedImageError too)
    ValueError,  # bad shapes or modes
    SyntaxError,  # some PIL plugins report broken headers this way
    EOFError,
    Image.DecompressionBombError,
    cv2.error,
)
"""Exceptions that mean "this one file is unreadable" rather than a bug."""

_MAX_FALLBACKS = 64


def check_options(*, size: int, val_split: float, limit: int | None) -> None:
    """Reject option values no data set can honour.

    Raises:
        UsageError: ``size`` < 1, ``val_split`` outside [0, 1) or ``limit`` < 1.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UsageError(f"size must be a positive number of pixels, got {size!r}")
    if not 0.0 <= val_split < 1.0:
        raise UsageError(f"val_split must be in [0, 1), got {val_split!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UsageError(f"limit must be a positive number of samples, got {limit!r}")


def check_class_names(
    classes: Sequence[str], known: Collection[str], *, where: Path, unknown_as: str, known_as: str
) -> None:
    """Refuse ``classes`` that name one not in ``known``.

    Raises:
        DataError: ``"<where>: <unknown_as> dog (<known_as>: cat, ship)"`` for an unknown name.
    """
    unknown = [name for name in classes if name not in known]
    if unknown:
        raise DataError(
            f"{where}: {unknown_as} {', '.join(unknown)} ({known_as}: {', '.join(known)})"
        )


class ColorDataset(Dataset[dict[str, Tensor]]):
    """Base of colorcli's data sets: items are dicts of float32 tensors.

    Each item has ``lightness`` ``(1, S, S)`` in [0, 100] and ``ab`` ``(2, S, S)`` in Lab
    units, plus ``rgb`` ``(3, S, S)`` in [0, 1] when :attr:`include_rgb` is set.

    Randomness: item ``i`` is augmented with ``numpy.random.default_rng((seed, epoch, i))``,
    so a sample depends only on the seed, the epoch and its index, never on the
    number of DataLoader workers or the order they are served. Call :meth:`set_epoch`
    at the start of each epoch (as with ``DistributedSampler``); the epoch lives in
    shared memory, so persistent DataLoader workers see it too. Without it every epoch
    gets the same crops.

    Read failures: a file that fails to decode in ``__getitem__`` (deleted or
    damaged after the scan) is logged on the ``colorcli.data`` logger, remembered in
    :attr:`failures` (in this process) and counted in :attr:`runtime_failures`
    (across workers); the item is replaced by the next readable index.

    Subclasses implement ``__len__``, ``_read(index)`` returning an ``(H, W, 3)`` uint8
    array in :attr:`color_space`, and ``source(index)``.
    """

    color_space: ClassVar[str] = "rgb"
    """``"rgb"`` (sRGB) or ``"lab8"`` (OpenCV 8-bit Lab) for what ``_read`` returns."""

    def __init__(
        self, size: int, *, augment: bool = True, seed: int = 0, include_rgb: bool = False
    ) -> None:
        self.transform = SquareTransform(size, augment=augment)
        self.seed = int(seed) % 2**63
        self.include_rgb = include_rgb
        self.failures: list[tuple[str, str]] = []
        self._bad: set[int] = set()
        # [epoch, runtime failures]; shared memory so that DataLoader workers see set_epoch
        # and the main process sees their failure count.
        self._shared = torch.zeros(2, dtype=torch.int64)
        try:
            self._shared.share_memory_()
        except RuntimeError as error:  # no /dev/shm: only persistent workers lose set_epoch
            logger.debug("epoch counter not in shared memory: %s", error)

    @property
    def size(self) -> int:
        """Side S of every sample."""
        return self.transform.size

    @property
    def augment(self) -> bool:
        return self.transform.augment

    @property
    def epoch(self) -> int:
        return int(self._shared[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (an int >= 0)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._shared[0] = epoch

    @property
    def runtime_failures(self) -> int:
        """How many reads failed in ``__getitem__``, summed over all DataLoader workers."""
        return int(self._shared[1])

    def __len__(self) -> int:
        raise NotImplementedError

    def source(self, index: int) -> str:
        """Where item ``index`` comes from (a path, or ``file[row]``), for messages."""
        raise NotImplementedError

    def _read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def _record_failure(self, index: int, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"
        where = self.source(index)
        self._bad.add(index)
        self.failures.append((where, reason))
        self._shared[1] += 1
        logger.warning("skipping unreadable sample %s (%s)", where, reason)

    def _to_sample(self, image: np.ndarray) -> dict[str, Tensor]:
        if self.color_space == "lab8":
            return lab8_to_sample(image, self.include_rgb)
        return rgb8_to_sample(image, self.include_rgb)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for a data set of {count} items")
        index %= count
        rng = np.random.default_rng((self.seed, self.epoch, index))
        for step in range(min(count, _MAX_FALLBACKS)):
            candidate = (index + step) % count
            if candidate in self._bad:
                continue
            try:
                image = self._read(candidate)
            except READ_ERRORS as error:
                self._record_failure(candidate, error)
                continue
            return self._to_sample(self.transform(image, rng))
        raise DataError(
            f"{self.source(index)}: this and the next {_MAX_FALLBACKS - 1} samples "
            "could not be read; is the data set still there?"
        )


@dataclass
class DataInfo:
    """What :func:`colorcli.data.open_dataset` found.

    Attributes:
        kind: ``"builtin"``, ``"folder"``, ``"split-folder"``, ``"class-split-folder"``,
            ``"lab-npy"`` or ``"cifar10"``.
        root: the data set's folder (the batch folder for CIFAR-10), or None.
        counts: number of (train, val) samples.
        skipped_grayscale: colourless images left out.
        skipped_unreadable: files left out because they could not be decoded.
        unreadable: ``(path, reason)`` of each unreadable file.
        classes: class names kept by the ``classes`` filter, or None for all.
        notes: other remarks (e.g. ``val_split`` ignored because the folder has a split).
    """

    kind: str
    root: Path | None
    counts: tuple[int, int]
    skipped_grayscale: int = 0
    skipped_unreadable: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    classes: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    _KIND_NAMES: ClassVar[dict[str, str]] = {
        "builtin": "built-in sample images",
        "folder": "image folder",
        "split-folder": "image folder with its own train/val split",
        "class-split-folder": "per-class image folders with train/val splits",
        "lab-npy": "LAB .npy arrays",
        "cifar10": "CIFAR-10 python batches",
    }

    def describe(self, max_unreadable: int = 5) -> str:
        """A few human-readable lines (no trailing newline) summarising the data set."""
        name = self._KIND_NAMES.get(self.kind, self.kind)
        lines = [f"{name}: {self.root}" if self.root is not None else name]
        train, val = self.counts
        lines.append(f"  train: {train:,} samples, val: {val:,} samples")
        if self.classes is not None:
            lines.append(f"  classes: {', '.join(self.classes)}")
        if self.skipped_grayscale or self.skipped_unreadable:
            lines.append(
                f"  skipped: {self.skipped_grayscale:,} grayscale, "
                f"{self.skipped_unreadable:,} unreadable"
            )
        for path, reason in self.unreadable[:max_unreadable]:
            lines.append(f"    {path}: {reason}")
        if len(self.unreadable) > max_unreadable:
            lines.append(f"    … and {len(self.unreadable) - max_unreadable:,} more")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, e.g. for checkpoint metadata."""
        return {
            "kind": self.kind,
            "root": None if self.root is None else str(self.root),
            "counts": list(self.counts),
            "skipped_grayscale": self.skipped_grayscale,
            "skipped_unreadable": self.skipped_unreadable,
            "unreadable": [list(item) for item in self.unreadable],
            "classes": self.classes,
            "notes": list(self.notes),
        }


@dataclass
class DatasetBundle:
    """Train and val data sets plus what was found while opening them."""

    train: ColorDataset
    val: ColorDataset
    info: DataInfo
