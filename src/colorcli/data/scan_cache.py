"""Remember which image files were colour or grayscale, so reopening a big folder is instant.

One JSON file per data set folder under ``<cache_dir>/data-scans/`` (``cache_dir`` is
:func:`colorcli.hub.cache_dir`, i.e. ``$COLORCLI_CACHE_DIR`` or the per-user cache).
An entry is trusted only while the file's size and modification time are unchanged
and the grayscale test's settings are the same; unreadable files are never cached,
so they are checked again next time. A cache that cannot be read or written is
ignored (logged at debug level): it only ever saves time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from colorcli.atomic import atomic_write
from colorcli.hub import cache_dir

logger = logging.getLogger("colorcli.data")

_FORMAT = 1
_CACHED_STATUSES = frozenset({"color", "grayscale"})


def scan_cache_path(root: Path) -> Path:
    """Cache file of the data set folder ``root``."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return cache_dir() / "data-scans" / f"{digest}.json"


class ScanCache:
    """Scan outcomes of one data set folder, keyed by resolved file path.

    Args:
        path: the JSON file (see :func:`scan_cache_path`).
        settings: whatever changes the outcome of a check (threshold, thumbnail
            side); a cache written with other settings is discarded.
    """

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings = settings
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            logger.debug("ignoring scan cache %s: %s", path, error)
            return
        if (
            isinstance(content, dict)
            and content.get("format") == _FORMAT
            and content.get("settings") == settings
            and isinstance(content.get("files"), dict)
        ):
            self._entries = content["files"]

    @staticmethod
    def _key_and_stamp(file: Path) -> tuple[str, list[int]] | None:
        try:
            stat = file.stat()
        except OSError:
            return None
        return str(file.resolve()), [stat.st_size, stat.st_mtime_ns]

    def get(self, file: Path) -> str | None:
        """The cached status of ``file`` (``"color"`` or ``"grayscale"``), if still valid."""
        found = self._key_and_stamp(file)
        if found is None:
            return None
        key, stamp = found
        entry = self._entries.get(key)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            status = entry[2]
            return status if status in _CACHED_STATUSES else None
        return None

    def put(self, file: Path, status: str) -> None:
        """Remember ``status`` for ``file`` (unreadable outcomes are not kept)."""
        if status not in _CACHED_STATUSES:
            return
        found = self._key_and_stamp(file)
        if found is None:
            return
        key, stamp = found
        self._entries[key] = [*stamp, status]
        self._dirty = True

    def save(self) -> None:
        """Write the cache atomically if anything changed; failures are only logged."""
        if not self._dirty:
            return
        content = {"format": _FORMAT, "settings": self.settings, "files": self._entries}
        text = json.dumps(content)
        try:
            atomic_write(self.path, lambda stream: stream.write(text.encode("utf-8")))
        except OSError as error:  # atomic_write has removed its partial file
            logger.debug("could not write scan cache %s: %s", self.path, error)
            return
        self._dirty = False
