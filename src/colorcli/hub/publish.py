"""Publishing: copy a checkpoint into a weights folder and record it in its manifest."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import IO, Any

from colorcli.atomic import atomic_write
from colorcli.errors import CheckpointError, ModelError
from colorcli.hub.cache import sha256_file
from colorcli.hub.manifest import MANIFEST_NAME, Manifest, ModelEntry, load_manifest

__all__ = ["publish_checkpoint"]


def publish_checkpoint(
    src: str | Path,
    name: str,
    *,
    weights_dir: str | Path,
    make_default: bool = False,
    **metadata: Any,
) -> ModelEntry:
    """Copy a checkpoint into ``weights_dir`` as ``name-<sha8>.pt`` and record it.

    The entry in ``weights_dir/manifest.json`` is added or replaced (the file is created
    when missing). A superseded file of the same name is left for the maintainer to delete.

    Args:
        src: Checkpoint file to publish.
        name: Model name.
        weights_dir: Directory holding ``manifest.json`` and the published files.
        make_default: Also make this entry the manifest's default.
        **metadata: Other :class:`ModelEntry` fields: ``arch`` and ``head`` (required),
            ``params``, ``training_data``, ``training_command``, ``metrics``, ``licence``,
            ``description``, ``aliases``, ``urls`` (default: the file name).

    Returns:
        The new entry.

    Raises:
        CheckpointError: ``src`` is not a file.
        ModelError: Bad metadata or a clash with another entry.
    """
    src = Path(src)
    if not src.is_file():
        raise CheckpointError(f"checkpoint file not found: {src}")
    weights_dir = Path(weights_dir)
    manifest_path = weights_dir / MANIFEST_NAME
    manifest = (
        load_manifest(manifest_path) if manifest_path.exists() else Manifest(path=manifest_path)
    )
    allowed = {f.name for f in dataclasses.fields(ModelEntry)} - {"name", "file", "sha256", "size"}
    unknown = sorted(set(metadata) - allowed)
    if unknown:
        raise ModelError(
            f"unknown metadata {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}"
        )
    digest = sha256_file(src)
    file = f"{name}-{digest[:8]}.pt"
    data = {
        "urls": [file],
        **metadata,
        "name": name,
        "file": file,
        "sha256": digest,
        "size": src.stat().st_size,
    }
    entry = ModelEntry.from_dict(
        {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()},
        source=str(manifest_path),
    )
    updated = manifest.with_entry(entry, make_default=make_default)
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / file
    if not (target.exists() and target.samefile(src)):
        _copy_atomically(src, target)
    updated.save(manifest_path)
    return entry


def _copy_atomically(src: Path, target: Path) -> None:
    # through the one atomic writer, so a killed publish never leaves half a weights file
    def write(stream: IO[bytes]) -> None:
        with open(src, "rb") as source:
            shutil.copyfileobj(source, stream)

    atomic_write(target, write)
