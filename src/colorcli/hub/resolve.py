"""Resolution: turn a ``--model`` value into a verified checkpoint file on disk."""

from __future__ import annotations

import os
from pathlib import Path

from colorcli.errors import CheckpointError, DownloadError, UnknownModelError
from colorcli.hub.cache import cached_path, local_checkpoint
from colorcli.hub.download import DEFAULT_TIMEOUT, ProgressCallback, download_entry
from colorcli.hub.manifest import DEFAULT_NAME, Manifest, load_manifest

__all__ = ["resolve_checkpoint"]

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def resolve_checkpoint(
    name_or_path: str | Path | None,
    *,
    manifest: Manifest | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Turn a ``--model`` value into a verified checkpoint file.

    Order: ``None``/``"default"`` → the manifest's default entry; an existing path → itself;
    a manifest name → the shipped copy, then the cached copy, then a download into the cache.

    Args:
        name_or_path: Model name, alias, file name or checkpoint path; ``None`` for the default.
        manifest: Registry to look names up in; the shipped manifest when ``None``.
        download: Whether a missing checkpoint may be downloaded.
        progress: Called with ``(entry, bytes_done)`` during a download.
        timeout: Seconds to wait for a connection or for data.

    Returns:
        Path of the checkpoint file.

    Raises:
        UnknownModelError: an unknown or empty name.
        ModelError: no default model.
        CheckpointError: A path-like argument that does not exist.
        DownloadError: The download failed or did not match its SHA-256.
    """
    if name_or_path is None or name_or_path == DEFAULT_NAME:
        entry = (manifest or load_manifest()).default_entry()
    else:
        if not str(name_or_path).strip():  # Path("") is the current folder
            raise UnknownModelError(
                "empty model name: give a published name (colorcli models list) or a "
                "checkpoint path"
            )
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
        if isinstance(name_or_path, Path):
            raise CheckpointError(f"checkpoint file not found: {path}")
        manifest = manifest or load_manifest()
        if manifest.find(name_or_path) is None and _looks_like_path(name_or_path):
            raise CheckpointError(f"checkpoint file not found: {path}")
        entry = manifest.get(name_or_path)
    local = local_checkpoint(entry)
    if local is not None:
        return local
    if not download:
        raise DownloadError(
            f"model {entry.name!r} is not downloaded; run `colorcli models download "
            f"{entry.name}` or save the file as {cached_path(entry)}"
        )
    return download_entry(entry, progress=progress, timeout=timeout)


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.endswith(_CHECKPOINT_SUFFIXES)
