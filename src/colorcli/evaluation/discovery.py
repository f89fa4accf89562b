"""Find the colour photographs to evaluate: a folder given by the user, or the built-in set.

Images are files whose suffix is in :data:`colorcli.imageio.IMAGE_EXTENSIONS`, the project's
one list of image suffixes.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from colorcli.data.folder import list_images
from colorcli.errors import DataError
from colorcli.imageio import IMAGE_EXTENSIONS

__all__ = ["EvalData", "builtin_eval_dir", "find_eval_images"]


@dataclass(frozen=True)
class EvalData:
    """The image files of an evaluation set.

    Attributes:
        root: folder they were found under.
        files: image files, sorted by their path relative to ``root``.
        builtin: whether this is the set shipped with colorcli.
    """

    root: Path
    files: list[Path]
    builtin: bool = False

    def name_of(self, path: Path) -> str:
        """How reports call ``path``: relative to the root, with ``/``."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def builtin_eval_dir() -> Path:
    """Folder of the colour photographs shipped with colorcli: ``colorcli/samples/color``."""
    return Path(str(importlib.resources.files("colorcli") / "samples" / "color"))


def find_eval_images(data: str | Path | None = None, *, exclude: Sequence[Path] = ()) -> EvalData:
    """Image files below ``data`` (recursive), or the built-in set when ``data`` is ``None``.

    Hidden files and folders are skipped, as are folders in ``exclude`` (e.g. where sample
    grids are written). Images are files whose suffix is in
    :data:`colorcli.imageio.IMAGE_EXTENSIONS`.

    Raises:
        DataError: the folder does not exist, is a file, or holds no image files.
    """
    builtin = data is None
    root = builtin_eval_dir() if data is None else Path(data).expanduser()
    if not root.exists():
        raise DataError(f"{root}: evaluation data folder not found")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (--data takes a folder of colour photographs)")
    files = _images_below(root, exclude)
    if not files:
        raise DataError(f"{root}: no image files found (looked for {_extension_list()})")
    return EvalData(root=root, files=files, builtin=builtin)


def _images_below(root: Path, exclude: Sequence[Path]) -> list[Path]:
    """Image files below ``root``, sorted by relative path, none inside a folder of ``exclude``.

    The walk is the project's one (:func:`colorcli.data.folder.list_images`); ``root`` itself
    is never excluded, only folders below it.
    """
    files = list_images(root)
    if not exclude:
        return files
    skipped = {_path_key(path) for path in exclude}
    return [path for path in files if not _inside(path, root, skipped)]


def _inside(path: Path, root: Path, folders: set[str]) -> bool:
    """Whether a folder between ``root`` (excluded) and ``path`` is one of ``folders``."""
    below_root = path.relative_to(root).parents[:-1]  # the last parent is ``.``, the root
    return any(_path_key(root / parent) in folders for parent in below_root)


def _path_key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _extension_list() -> str:
    return ", ".join(sorted(IMAGE_EXTENSIONS))
