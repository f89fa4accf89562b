"""The few colour photographs shipped inside the package, as a demonstration data set."""

from __future__ import annotations

from pathlib import Path

from colorcli.data.base import DataInfo, DatasetBundle, check_options
from colorcli.data.folder import ImageFolderDataset, list_images, scan_images
from colorcli.errors import DataError


def builtin_sample_dir() -> Path:
    """Folder of the shipped colour photographs: ``colorcli/samples/color/``."""
    return Path(__file__).resolve().parent.parent / "samples" / "color"


def open_builtin(
    *, size: int, seed: int = 0, augment: bool = True, limit: int | None = None
) -> DatasetBundle:
    """Train and val both made of every shipped sample photograph.

    A demonstration only (a handful of images cannot teach a model to colourize):
    it lets ``colorcli train`` run end to end without a data set.

    Raises:
        DataError: the package has no sample photographs.
    """
    check_options(size=size, val_split=0.0, limit=limit)
    folder = builtin_sample_dir()
    files = list_images(folder) if folder.is_dir() else []
    scan = scan_images(files, limit=limit)
    if not scan.color:
        raise DataError(
            f"{folder}: no built-in colour sample images in this installation; "
            "pass a data set folder instead"
        )
    unreadable = [(str(path), reason) for path, reason in scan.unreadable]
    info = DataInfo(
        kind="builtin",
        root=folder,
        counts=(len(scan.color), len(scan.color)),
        skipped_grayscale=len(scan.grayscale),
        skipped_unreadable=len(unreadable),
        unreadable=unreadable,
        notes=["demonstration only: train and val are the same few images"],
    )
    train = ImageFolderDataset(scan.color, size, augment=augment, seed=seed)
    val = ImageFolderDataset(scan.color, size, augment=False, seed=seed, include_rgb=True)
    return DatasetBundle(train=train, val=val, info=info)
