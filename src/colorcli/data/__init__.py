"""Training and evaluation data: image folders, LAB .npy arrays, CIFAR-10 batches, samples.

Start with :func:`open_dataset`; its items are dicts with ``lightness`` ``(1, S, S)`` in
[0, 100], ``ab`` ``(2, S, S)`` in Lab units and, for val, ``rgb`` ``(3, S, S)`` in [0, 1].
"""

from __future__ import annotations

from colorcli.data.base import ColorDataset, DataInfo, DatasetBundle
from colorcli.data.builtin import builtin_sample_dir
from colorcli.data.cifar import CIFAR10_CLASSES, ArrayDataset, load_cifar_batch
from colorcli.data.detect import BUILTIN, detect_kind, open_dataset
from colorcli.data.folder import (
    GRAYSCALE_CHROMA,
    IMAGE_SUFFIXES,
    ImageFolderDataset,
    is_grayscale_image,
    read_rgb,
)
from colorcli.data.npy import LabNpyDataset
from colorcli.data.sampling import palette_samples
from colorcli.data.transforms import SquareTransform

__all__ = [
    "BUILTIN",
    "CIFAR10_CLASSES",
    "GRAYSCALE_CHROMA",
    "IMAGE_SUFFIXES",
    "ArrayDataset",
    "ColorDataset",
    "DataInfo",
    "DatasetBundle",
    "ImageFolderDataset",
    "LabNpyDataset",
    "SquareTransform",
    "builtin_sample_dir",
    "detect_kind",
    "is_grayscale_image",
    "load_cifar_batch",
    "open_dataset",
    "palette_samples",
    "read_rgb",
]
