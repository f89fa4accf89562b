"""The per-user checkpoint cache: where downloads go, checking local copies, removing them."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import platformdirs

from colorcli.atomic import remove_stale_partials
from colorcli.hub.manifest import Manifest, ModelEntry, get_entry, shipped_path

__all__ = [
    "ENV_CACHE_DIR",
    "cache_dir",
    "cached_path",
    "local_checkpoint",
    "matches_entry",
    "remove_cached",
    "sha256_file",
]

ENV_CACHE_DIR = "COLORCLI_CACHE_DIR"
"""Environment variable that replaces the per-user cache directory."""

_CHUNK = 1 << 16


def cache_dir() -> Path:
    """Per-user cache root: ``$COLORCLI_CACHE_DIR`` or ``platformdirs.user_cache_dir``."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("colorcli"))


def cached_path(entry: ModelEntry) -> Path:
    """Where the cache keeps (or would keep) ``entry``; also where to drop it by hand."""
    return cache_dir() / "checkpoints" / entry.file


# --- verification ----------------------------------------------------------------------------


def sha256_file(path: str | Path) -> str:
    """Lower-case hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def matches_entry(path: Path, entry: ModelEntry) -> bool:
    """Whether ``path`` is a file with the entry's size and SHA-256 (always hashed)."""
    try:
        if path.stat().st_size != entry.size:
            return False
        return sha256_file(path) == entry.sha256
    except OSError:
        return False


def local_checkpoint(entry: ModelEntry) -> Path | None:
    """A verified local copy of ``entry``: the shipped one first, then the cached one.

    Files whose hash no longer matches are never returned.
    """
    for candidate in (shipped_path(entry), cached_path(entry)):
        if matches_entry(candidate, entry):
            return candidate
    return None


# --- maintenance -----------------------------------------------------------------------------


def remove_cached(name: str, manifest: Manifest | None = None) -> list[Path]:
    """Delete the cached copy of a model (and leftover partial downloads).

    Leftovers are the :func:`colorcli.atomic.partial_path` names of the cached file that no
    live download holds (see :func:`colorcli.atomic.remove_stale_partials`). Shipped files
    are never touched.

    Returns:
        The paths removed; empty when nothing was cached.

    Raises:
        ModelError: Unknown name.
    """
    entry = get_entry(name, manifest)
    target = cached_path(entry)
    removed = []
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
        removed.append(target)
    return [*removed, *sorted(remove_stale_partials([target]))]
