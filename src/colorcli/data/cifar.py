"""CIFAR-10 "python version" batches, unpickled safely, optionally filtered by class.

Layout: ``data_batch_1`` … ``data_batch_5`` (train, whichever are present) and
``test_batch`` (val) in the folder or in its ``cifar-10-batches-py/`` sub-folder;
``batches.meta`` is optional (its ``label_names`` replace :data:`CIFAR10_CLASSES`).

Safety: pickles can run arbitrary code while loading, so batches are read with an
unpickler that resolves only the globals a numpy array needs
(``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``,
``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``,
``numpy.ndarray``, ``numpy.dtype`` and ``_codecs.encode``, which protocol-2
pickles use for bytes); any other global (``os.system``, ``builtins.eval``, …)
raises :class:`~colorcli.errors.DataError`.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from colorcli.data.base import (
    ColorDataset,
    DataInfo,
    DatasetBundle,
    check_class_names,
    check_options,
)
from colorcli.errors import DataError

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_BATCHES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"

_NUMPY_GLOBALS = {
    ("multiarray", "_reconstruct"),
    ("numeric", "_frombuffer"),
}


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that builds dicts, lists, bytes and numpy arrays and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "_codecs" and name == "encode":
            return codecs.encode
        prefix, _, submodule = module.rpartition(".")
        if prefix in ("numpy.core", "numpy._core") and (submodule, name) in _NUMPY_GLOBALS:
            # numpy 2 moved numpy.core to numpy._core; old pickles name the former.
            real = "numpy._core" if hasattr(np, "_core") else "numpy.core"
            return getattr(importlib.import_module(f"{real}.{submodule}"), name)
        raise _RefusedGlobal(f"refusing to load global {module}.{name}")


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with path.open("rb") as file:
            content = _SafeUnpickler(file, encoding="bytes").load()
    except _RefusedGlobal as error:
        raise DataError(f"{path}: not a safe CIFAR pickle ({error})") from error
    except (
        pickle.UnpicklingError,
        OSError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as error:
        raise DataError(
            f"{path}: unreadable or truncated pickle ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(content).__name__}")
    return content


def _field(content: dict[Any, Any], key: str, path: Path) -> Any:
    for candidate in (key.encode(), key):
        if candidate in content:
            return content[candidate]
    raise DataError(f"{path}: no {key!r} entry in the batch")


def load_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch safely.

    Returns:
        images ``(N, 32, 32, 3)`` uint8 RGB and labels ``(N,)`` int64.

    Raises:
        DataError: unreadable, truncated, hostile or malformed batch.
    """
    path = Path(path)
    content = _unpickle(path)
    data = np.asarray(_field(content, "data", path))
    labels = np.asarray(_field(content, "labels", path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: expected data of shape (N, 3072) uint8, got {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but {labels.shape[0]} labels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def find_cifar_folder(root: Path) -> Path | None:
    """The folder holding CIFAR-10 batches: ``root`` or ``root/cifar-10-batches-py``."""
    for folder in (root, root / "cifar-10-batches-py"):
        names = (*TRAIN_BATCHES, TEST_BATCH)
        if folder.is_dir() and any((folder / name).is_file() for name in names):
            return folder
    return None


def class_names(folder: Path) -> tuple[str, ...]:
    """Label names from ``batches.meta`` when present, else :data:`CIFAR10_CLASSES`."""
    meta = folder / META_FILE
    if not meta.is_file():
        return CIFAR10_CLASSES
    names = _field(_unpickle(meta), "label_names", meta)
    return tuple(name.decode() if isinstance(name, bytes) else str(name) for name in names)


class ArrayDataset(ColorDataset):
    """In-memory ``(N, H, W, 3)`` uint8 sRGB images as Lab samples (see :class:`ColorDataset`).

    Args:
        images: the images (kept as given; pickled with the data set).
        size: side S of the samples.
        sources: a name per image for messages; defaults to ``image[i]``.
        augment: random square crop + flip (True) or resize + centre crop (False).
        seed: augmentation seed.
        include_rgb: add the ``rgb`` tensor to each item.
    """

    def __init__(
        self,
        images: np.ndarray,
        size: int,
        *,
        sources: Sequence[str] | None = None,
        augment: bool = True,
        seed: int = 0,
        include_rgb: bool = False,
    ) -> None:
        super().__init__(size, augment=augment, seed=seed, include_rgb=include_rgb)
        if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}"
            )
        self.images = images
        self.sources = list(sources) if sources is not None else None

    def __len__(self) -> int:
        return len(self.images)

    def source(self, index: int) -> str:
        return self.sources[index] if self.sources is not None else f"image[{index}]"

    def _read(self, index: int) -> np.ndarray:
        return self.images[index]


def _load_split(
    folder: Path, names: Sequence[str], keep: np.ndarray | None
) -> tuple[np.ndarray, list[str]]:
    images: list[np.ndarray] = []
    sources: list[str] = []
    for name in names:
        batch_images, labels = load_cifar_batch(folder / name)
        rows = np.arange(len(labels)) if keep is None else np.flatnonzero(np.isin(labels, keep))
        images.append(batch_images[rows])
        sources.extend(f"{folder / name}[{row}]" for row in rows)
    if not images:
        return np.zeros((0, 32, 32, 3), dtype=np.uint8), []
    return np.concatenate(images), sources


def _subset(
    images: np.ndarray, sources: list[str], limit: int | None, seed: int
) -> tuple[np.ndarray, list[str]]:
    if limit is None or len(images) <= limit:
        return images, sources
    rows = np.sort(np.random.default_rng(seed % 2**63).permutation(len(images))[:limit])
    return images[rows], [sources[int(row)] for row in rows]


def open_cifar(
    root: Path,
    *,
    size: int,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    augment: bool = True,
    limit: int | None = None,
) -> DatasetBundle:
    """Open CIFAR-10 batches: train from ``data_batch_*``, val from ``test_batch``.

    Args:
        root: the folder (or its parent holding ``cifar-10-batches-py/``).
        size: side S of the samples (32 keeps CIFAR's own resolution).
        seed: seeds the ``limit`` subset and augmentation.
        classes: keep only these classes (CIFAR-10 names, e.g. ``["horse", "cat"]``).
        augment: random crops and flips for train.
        limit: keep a seeded random subset of at most this many images per split.

    Raises:
        DataError: no batches, a hostile or broken batch, or an unknown class name.
    """
    check_options(size=size, val_split=0.0, limit=limit)
    folder = find_cifar_folder(root)
    if folder is None:
        raise DataError(f"{root}: no CIFAR-10 batches (data_batch_1 … 5, test_batch) found")
    names = class_names(folder)
    keep = None
    if classes is not None:
        check_class_names(
            classes, names, where=folder, unknown_as="unknown CIFAR-10 class", known_as="classes"
        )
        keep = np.array([names.index(name) for name in classes], dtype=np.int64)
    train_names = [name for name in TRAIN_BATCHES if (folder / name).is_file()]
    val_names = [TEST_BATCH] if (folder / TEST_BATCH).is_file() else []
    notes = [] if val_names else [f"no {TEST_BATCH}: the val split is empty"]
    if not train_names:
        raise DataError(f"{folder}: no data_batch_1 … data_batch_5 for training")
    train_images, train_sources = _subset(*_load_split(folder, train_names, keep), limit, seed)
    val_images, val_sources = _subset(*_load_split(folder, val_names, keep), limit, seed + 1)
    if len(train_images) == 0:
        raise DataError(f"{folder}: no training images of class {', '.join(classes or [])}")
    info = DataInfo(
        kind="cifar10",
        root=folder,
        counts=(len(train_images), len(val_images)),
        classes=None if classes is None else list(classes),
        notes=notes,
    )
    train = ArrayDataset(train_images, size, sources=train_sources, augment=augment, seed=seed)
    val = ArrayDataset(
        val_images, size, sources=val_sources, augment=False, seed=seed, include_rgb=True
    )
    return DatasetBundle(train=train, val=val, info=info)
