"""Recognise a data set's layout from its path and open it: the one entry point of ``data``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from colorcli.data.base import DatasetBundle, check_options
from colorcli.data.builtin import open_builtin
from colorcli.data.cifar import META_FILE, TEST_BATCH, TRAIN_BATCHES, find_cifar_folder, open_cifar
from colorcli.data.folder import (
    IMAGE_SUFFIXES,
    find_class_split_folders,
    find_split_folders,
    open_image_folder,
)
from colorcli.data.npy import find_lab_npy, open_lab_npy
from colorcli.errors import DataError, UsageError

BUILTIN = "builtin"
"""The path that selects the built-in sample photographs (as does ``None``)."""

_CIFAR_FILES = frozenset({*TRAIN_BATCHES, TEST_BATCH, META_FILE})


def _dataset_root(path: str | Path) -> Path:
    """The folder to open: ``path`` itself, or the folder of a data file inside a data set."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if root.is_file():
        if root.name == "gray_scale.npy":
            return root.parent.parent if root.parent.name in ("l", "L") else root.parent
        if root.name in _CIFAR_FILES:
            return root.parent
        what = "an image" if root.suffix.lower() in IMAGE_SUFFIXES else "a file"
        raise DataError(f"{root}: is {what}, not a data set; pass the folder that holds the data")
    return root


def detect_kind(path: str | Path | None) -> str:
    """Name the layout of the data set at ``path``.

    Returns:
        ``"builtin"`` (``None`` or ``"builtin"``), ``"lab-npy"``, ``"cifar10"``,
        ``"split-folder"``, ``"class-split-folder"`` or ``"folder"``, tried in that order.

    Raises:
        DataError: ``path`` does not exist or is a lone file.
    """
    if path is None or str(path) == BUILTIN:
        return "builtin"
    root = _dataset_root(path)
    if find_lab_npy(root) is not None:
        return "lab-npy"
    if find_cifar_folder(root) is not None:
        return "cifar10"
    if find_split_folders(root) is not None:
        return "split-folder"
    if find_class_split_folders(root) is not None:
        return "class-split-folder"
    return "folder"


def _normalise_classes(classes: Sequence[str] | str | None) -> list[str] | None:
    if classes is None:
        return None
    names = [classes] if isinstance(classes, str) else list(classes)
    names = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not names:
        raise UsageError("classes must name at least one class")
    return names


def open_dataset(
    path: str | Path | None,
    *,
    size: int,
    val_split: float = 0.05,
    seed: int = 0,
    classes: Sequence[str] | str | None = None,
    augment: bool = True,
    limit: int | None = None,
) -> DatasetBundle:
    """Open a training/evaluation data set, recognising its layout from ``path``.

    Layouts (see :func:`detect_kind`, first match wins):

    * ``None`` or ``"builtin"``: the photographs shipped in ``colorcli/samples/color/``;
      train and val are both all of them (a demonstration, not a real data set).
    * LAB ``.npy`` (Kaggle "image colorization"): ``gray_scale.npy`` (or
      ``l/gray_scale.npy``) + ``ab/ab1.npy``, ``ab2.npy``, … (see ``colorcli.data.npy``).
    * CIFAR-10 python batches (``data_batch_*``, ``test_batch``), safely unpickled.
    * ``train/`` + ``val/`` (or ``valid/``, ``validation/``, ``test/``) folders of images.
    * ``<class>/train/`` + ``<class>/test/`` folders for every sub-folder.
    * any other folder: images found recursively, ``val_split`` held out at random.

    In folders, grayscale images (single-channel modes, or 99th-percentile chroma
    below 6) and undecodable files are skipped and counted in ``info``.

    Items of ``train`` and ``val`` are dicts of float32 tensors: ``lightness``
    ``(1, size, size)`` in [0, 100] and ``ab`` ``(2, size, size)`` in Lab units; ``val``
    items also carry ``rgb`` ``(3, size, size)`` in [0, 1]. Call ``train.set_epoch(e)``
    each epoch to vary the augmentation.

    Args:
        path: data set folder (or a file inside one: ``gray_scale.npy``, a CIFAR batch),
            ``"builtin"`` or None. ``~`` is expanded.
        size: side S of the samples in pixels.
        val_split: fraction held out for val where the data set has no split of its own.
        seed: seeds the split, the ``limit`` subset and the augmentation.
        classes: keep only these classes: CIFAR-10 names, or the names of the class
            sub-folders of an image folder. Not supported by ``.npy`` and builtin sets.
        augment: random square crops (area 50–100 %) and flips for train; False gives
            train the same resize + centre crop as val.
        limit: keep a seeded random subset of at most this many samples in each split.

    Raises:
        DataError: the path is missing, holds no usable images, or a file is hostile.
        UsageError: an option value is out of range or does not apply to this layout.
    """
    check_options(size=size, val_split=val_split, limit=limit)
    names = _normalise_classes(classes)
    kind = detect_kind(path)
    if kind == "builtin":
        if names is not None:
            raise UsageError("the built-in sample set has no classes to filter")
        return open_builtin(size=size, seed=seed, augment=augment, limit=limit)
    assert path is not None
    root = _dataset_root(path)
    if kind == "lab-npy":
        if names is not None:
            raise UsageError(f"{root}: LAB .npy data sets have no classes to filter")
        return open_lab_npy(
            root, size=size, val_split=val_split, seed=seed, augment=augment, limit=limit
        )
    if kind == "cifar10":
        return open_cifar(root, size=size, seed=seed, classes=names, augment=augment, limit=limit)
    return open_image_folder(
        root,
        size=size,
        val_split=val_split,
        seed=seed,
        classes=names,
        augment=augment,
        limit=limit,
    )
