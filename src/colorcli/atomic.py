"""Write files atomically: a hidden ``.partial`` sibling, flushed to disk, then renamed."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO


def partial_path(path: Path) -> Path:
    """A fresh hidden temporary name next to ``path`` (same folder, so the rename is atomic)."""
    return path.parent / f".{path.name[:200]}.{secrets.token_hex(4)}.partial"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(stream)`` on a temporary file, fsync it and move it over ``path``.

    The file gets the usual permissions (0666 less the umask). On any failure the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
