"""Published checkpoints: the manifest, the per-user cache and verified downloads.

``manifest`` describes published checkpoints as data, ``cache`` keeps and checks local
copies, ``download`` fetches them with a SHA-256 check, ``resolve`` turns a ``--model``
value into a file and ``publish`` records a new checkpoint in a weights folder.
"""

from __future__ import annotations

from colorcli.hub.cache import (
    ENV_CACHE_DIR,
    cache_dir,
    cached_path,
    local_checkpoint,
    matches_entry,
    remove_cached,
    sha256_file,
)
from colorcli.hub.download import (
    DEFAULT_TIMEOUT,
    DEFAULT_WEIGHTS_URL,
    ENV_WEIGHTS_URL,
    ProgressCallback,
    download_entry,
    entry_urls,
)
from colorcli.hub.manifest import (
    DEFAULT_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    Manifest,
    ModelEntry,
    default_model_name,
    get_entry,
    list_entries,
    load_manifest,
    shipped_path,
    shipped_weights_dir,
)
from colorcli.hub.publish import publish_checkpoint
from colorcli.hub.resolve import resolve_checkpoint

__all__ = [
    "DEFAULT_NAME",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WEIGHTS_URL",
    "ENV_CACHE_DIR",
    "ENV_WEIGHTS_URL",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "Manifest",
    "ModelEntry",
    "ProgressCallback",
    "cache_dir",
    "cached_path",
    "default_model_name",
    "download_entry",
    "entry_urls",
    "get_entry",
    "list_entries",
    "load_manifest",
    "local_checkpoint",
    "matches_entry",
    "publish_checkpoint",
    "remove_cached",
    "resolve_checkpoint",
    "sha256_file",
    "shipped_path",
    "shipped_weights_dir",
]
