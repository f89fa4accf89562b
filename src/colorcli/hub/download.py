"""Verified downloads: stream a checkpoint to a partial file, check its SHA-256, move it in."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from colorcli import __version__
from colorcli.atomic import atomic_write
from colorcli.errors import DownloadError
from colorcli.hub.cache import cached_path
from colorcli.hub.manifest import ModelEntry

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_WEIGHTS_URL",
    "ENV_WEIGHTS_URL",
    "ProgressCallback",
    "download_entry",
    "entry_urls",
]

ENV_WEIGHTS_URL = "COLORCLI_WEIGHTS_URL"
"""Environment variable that replaces the base URL relative download URLs are joined to."""

DEFAULT_WEIGHTS_URL = "https://github.com/colorcli/colorcli/releases/download/weights-v1/"

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a connection or for the next block of data."""

ProgressCallback = Callable[[ModelEntry, int], None]
"""Called as ``progress(entry, bytes_done)`` while a download runs; the total is ``entry.size``."""

_CHUNK = 1 << 16


def entry_urls(entry: ModelEntry) -> list[str]:
    """Absolute download URLs of ``entry``; relative ones joined to ``$COLORCLI_WEIGHTS_URL``."""
    base = os.environ.get(ENV_WEIGHTS_URL) or DEFAULT_WEIGHTS_URL
    base = base if base.endswith("/") else base + "/"
    return [
        url if "://" in url else urllib.parse.urljoin(base, url)
        for url in (entry.urls or (entry.file,))
    ]


def download_entry(
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download ``entry`` into the cache, verify its SHA-256 and move it into place.

    Each attempt streams to a partial file of its own (:func:`colorcli.atomic.atomic_write`),
    so concurrent downloads of the same file never corrupt each other; the last verified
    rename wins. URLs are tried in order until one succeeds.

    Returns:
        The cached file, :func:`colorcli.hub.cached_path` of ``entry``.

    Raises:
        DownloadError: Every URL failed; names each URL with its reason and the path where
            the file can be saved by hand. A wrong hash names both hashes.
    """
    destination = cached_path(entry)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(
            f"cannot create the cache directory {destination.parent}: {error.strerror}"
        ) from error
    failures = []
    for url in entry_urls(entry):
        try:
            _download_verified(url, destination, entry, progress=progress, timeout=timeout)
        except _AttemptFailed as failure:
            failures.append(f"{url}: {failure}")
        else:
            return destination
    raise DownloadError(
        f"could not download model {entry.name!r} ({'; '.join(failures)}); "
        f"download it by hand and save it as {destination}"
    )


class _AttemptFailed(Exception):
    """One URL failed; the message is the reason."""


def _download_verified(
    url: str,
    destination: Path,
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None,
    timeout: float,
) -> None:
    """Stream ``url`` into ``destination``; a failure leaves no partial file behind."""

    def write(stream: IO[bytes]) -> None:
        digest = _stream(url, stream, entry, progress=progress, timeout=timeout)
        if digest != entry.sha256:
            # raised inside atomic_write, so the rename never happens and the partial goes
            raise _AttemptFailed(
                f"sha256 mismatch: expected {entry.sha256}, got {digest}; "
                "the partial file was deleted"
            )

    try:
        atomic_write(destination, write)
    except OSError as error:  # the partial file could not be made, written or renamed
        raise _AttemptFailed(_describe(error, timeout)) from error


def _stream(
    url: str,
    stream: IO[bytes],
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None,
    timeout: float,
) -> str:
    """Copy ``url`` to ``stream``; return the SHA-256 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": f"colorcli/{__version__}"})
    digest = hashlib.sha256()
    done = 0
    expected: int | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if progress is not None:
                progress(entry, 0)
            while block := response.read(_CHUNK):
                done += len(block)
                if done > entry.size:
                    raise _AttemptFailed(f"received more than the expected {entry.size} bytes")
                digest.update(block)
                stream.write(block)
                if progress is not None:
                    progress(entry, done)
    except urllib.error.HTTPError as error:
        raise _AttemptFailed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise _AttemptFailed(_describe(error.reason, timeout)) from error
    except (OSError, http.client.HTTPException) as error:
        raise _AttemptFailed(_describe(error, timeout)) from error
    if expected is not None and done != expected:
        raise _AttemptFailed(f"connection closed after {done} of {expected} bytes")
    return digest.hexdigest()


def _describe(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
