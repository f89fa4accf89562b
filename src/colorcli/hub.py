"""Published checkpoints: the manifest, the per-user cache and verified downloads."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from colorcli import __version__
from colorcli.errors import CheckpointError, DownloadError, ModelError, UnknownModelError

__all__ = [
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

MANIFEST_FORMAT = 1
"""The manifest layout this version reads and writes."""

MANIFEST_NAME = "manifest.json"

ENV_CACHE_DIR = "COLORCLI_CACHE_DIR"
"""Environment variable that replaces the per-user cache directory."""

ENV_WEIGHTS_URL = "COLORCLI_WEIGHTS_URL"
"""Environment variable that replaces the base URL relative download URLs are joined to."""

DEFAULT_WEIGHTS_URL = "https://github.com/colorcli/colorcli/releases/download/weights-v1/"

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a connection or for the next block of data."""

DEFAULT_NAME = "default"
"""The model name that stands for the manifest's default entry."""

ProgressCallback = Callable[["ModelEntry", int], None]
"""Called as ``progress(entry, bytes_done)`` while a download runs; the total is ``entry.size``."""

_CHUNK = 1 << 16
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class ModelEntry:
    """One published checkpoint as the manifest describes it.

    Attributes:
        name: Name users pass to ``--model``.
        file: File name ``<name>-<sha256[:8]>.pt`` (torch.hub style).
        sha256: Full SHA-256 of the file, lower-case hex.
        size: File size in bytes.
        arch: Architecture name understood by ``colorcli.models``.
        head: Output head, e.g. ``"regression"``, ``"palette-32"``, ``"gamut-313"``.
        urls: Download locations; relative ones are joined to the base URL.
        params: Number of parameters.
        training_data: What the model was trained on.
        training_command: The command that produced the checkpoint.
        metrics: Evaluation results, e.g. ``{"psnr": 24.1}``.
        licence: Licence of the weights.
        description: One-sentence summary.
        aliases: Other names that select this entry.
    """

    name: str
    file: str
    sha256: str
    size: int
    arch: str
    head: str
    urls: tuple[str, ...] = ()
    params: int = 0
    training_data: str = ""
    training_command: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    licence: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def hash_prefix(self) -> str:
        """The first eight hex digits of the SHA-256, as found in the file name."""
        return self.sha256[:8]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form in the manifest's key order."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "urls": list(self.urls),
            "arch": self.arch,
            "head": self.head,
            "params": self.params,
            "training_data": self.training_data,
            "training_command": self.training_command,
            "metrics": {key: self.metrics[key] for key in sorted(self.metrics)},
            "licence": self.licence,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "manifest") -> ModelEntry:
        """Build and check an entry; ``source`` names the manifest in error messages.

        Raises:
            ModelError: A field is missing, of the wrong type or inconsistent.
        """
        if not isinstance(data, Mapping):
            raise ModelError(f"{source}: a model entry must be an object, got {data!r}")
        where = f"{source}: model {data.get('name', '?')!r}"
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ModelError(f"{where}: unknown fields {', '.join(unknown)}")
        metrics = _typed(data, "metrics", dict, where, {})
        for key, value in metrics.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ModelError(f"{where}: metric {key!r} must be a number, got {value!r}")
        entry = cls(
            name=_typed(data, "name", str, where),
            file=_typed(data, "file", str, where),
            sha256=_typed(data, "sha256", str, where),
            size=_typed(data, "size", int, where),
            arch=_typed(data, "arch", str, where),
            head=_typed(data, "head", str, where),
            urls=tuple(_typed_list(data, "urls", where)),
            params=_typed(data, "params", int, where, 0),
            training_data=_typed(data, "training_data", str, where, ""),
            training_command=_typed(data, "training_command", str, where, ""),
            metrics={str(key): float(value) for key, value in metrics.items()},
            licence=_typed(data, "licence", str, where, ""),
            description=_typed(data, "description", str, where, ""),
            aliases=tuple(_typed_list(data, "aliases", where)),
        )
        entry._check(where)
        return entry

    def _check(self, where: str) -> None:
        for name in (self.name, *self.aliases):
            if not _NAME_PATTERN.match(name) or name == DEFAULT_NAME:
                raise ModelError(f"{where}: {name!r} is not a valid model name")
        if not _SHA256_PATTERN.match(self.sha256):
            raise ModelError(f"{where}: sha256 must be 64 lower-case hex digits")
        if self.file != f"{self.name}-{self.hash_prefix}.pt":
            raise ModelError(
                f"{where}: file must be {self.name}-{self.hash_prefix}.pt "
                f"(name-<sha256[:8]>.pt), got {self.file!r}"
            )
        if self.size <= 0 or self.params < 0:
            raise ModelError(f"{where}: size must be positive and params not negative")


@dataclass(frozen=True)
class Manifest:
    """The registry of published checkpoints.

    Attributes:
        models: Entries, sorted by name.
        default: Name of the entry used when no model is given, or ``None``.
        path: File the manifest was read from (for messages), if any.
    """

    models: tuple[ModelEntry, ...] = ()
    default: str | None = None
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = str(self.path or "manifest")
        seen: dict[str, str] = {}
        for entry in self.models:
            for key in (entry.name, *entry.aliases):
                if key in seen:
                    raise ModelError(
                        f"{where}: name {key!r} is used by both {seen[key]!r} and {entry.name!r}"
                    )
                seen[key] = entry.name
        if self.default is not None and self.default not in self.names():
            raise ModelError(f"{where}: default model {self.default!r} is not in the manifest")

    def names(self) -> list[str]:
        """Entry names in manifest order (aliases left out)."""
        return [entry.name for entry in self.models]

    def get(self, name: str) -> ModelEntry:
        """Find an entry by name, alias or file name.

        Raises:
            UnknownModelError: ``unknown model 'x'; available: a, b``.
        """
        entry = self.find(name)
        if entry is None:
            available = ", ".join(self.names()) or "(none)"
            raise UnknownModelError(f"unknown model {name!r}; available: {available}")
        return entry

    def default_entry(self) -> ModelEntry:
        """The entry named by ``default``.

        Raises:
            ModelError: The manifest names no default.
        """
        if self.default is None:
            raise ModelError(
                f"no default model in {self.path or 'the manifest'}; "
                "pass a model name or a checkpoint path"
            )
        return self.get(self.default)

    def with_entry(self, entry: ModelEntry, *, make_default: bool = False) -> Manifest:
        """A copy with ``entry`` added, or replacing the entry of the same name."""
        others = [old for old in self.models if old.name != entry.name]
        models = tuple(sorted([*others, entry], key=lambda item: item.name))
        default = entry.name if make_default else self.default
        return Manifest(models=models, default=default, path=self.path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"format": 1, "default": ..., "models": [...]}``."""
        return {
            "format": MANIFEST_FORMAT,
            "default": self.default,
            "models": [entry.to_dict() for entry in self.models],
        }

    def save(self, path: Path) -> None:
        """Write pretty, stable JSON to ``path`` (atomically)."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    @classmethod
    def from_dict(cls, data: Any, *, path: Path | None = None) -> Manifest:
        """Build and check a manifest from its JSON form.

        Raises:
            ModelError: Wrong format number, bad entries, duplicate names, unknown default.
        """
        where = str(path or "manifest")
        if not isinstance(data, dict):
            raise ModelError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != MANIFEST_FORMAT:
            raise ModelError(
                f"{where}: unsupported manifest format {data.get('format')!r} "
                f"(this colorcli reads format {MANIFEST_FORMAT})"
            )
        models = data.get("models", [])
        if not isinstance(models, list):
            raise ModelError(f"{where}: 'models' must be a list")
        default = data.get("default")
        if default is not None and not isinstance(default, str):
            raise ModelError(f"{where}: 'default' must be a model name or null")
        entries = tuple(ModelEntry.from_dict(item, source=where) for item in models)
        return cls(models=entries, default=default, path=path)

    def find(self, name: str) -> ModelEntry | None:
        """The entry with this name, alias or file name, or ``None``."""
        for entry in self.models:
            if name in (entry.name, entry.file, *entry.aliases):
                return entry
        return None


# --- locations -------------------------------------------------------------------------------


def shipped_weights_dir() -> Path:
    """Directory of checkpoints shipped with colorcli, holding ``manifest.json``.

    In a wheel it is ``colorcli/weights`` inside the package; in a development checkout
    it is the repository's top-level ``weights/``.
    """
    package = Path(__file__).resolve().parent
    inside = package / "weights"
    return inside if inside.is_dir() else package.parents[1] / "weights"


def cache_dir() -> Path:
    """Per-user cache root: ``$COLORCLI_CACHE_DIR`` or ``platformdirs.user_cache_dir``."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("colorcli"))


def cached_path(entry: ModelEntry) -> Path:
    """Where the cache keeps (or would keep) ``entry``; also where to drop it by hand."""
    return cache_dir() / "checkpoints" / entry.file


def shipped_path(entry: ModelEntry) -> Path:
    """Where a copy shipped with colorcli would be."""
    return shipped_weights_dir() / entry.file


def entry_urls(entry: ModelEntry) -> list[str]:
    """Absolute download URLs of ``entry``; relative ones joined to ``$COLORCLI_WEIGHTS_URL``."""
    base = os.environ.get(ENV_WEIGHTS_URL) or DEFAULT_WEIGHTS_URL
    base = base if base.endswith("/") else base + "/"
    return [
        url if "://" in url else urllib.parse.urljoin(base, url)
        for url in (entry.urls or (entry.file,))
    ]


# --- the manifest ----------------------------------------------------------------------------


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and check a manifest; ``None`` reads the one shipped with colorcli.

    Raises:
        ModelError: The file is missing, is not JSON, or does not describe valid entries.
    """
    path = Path(path) if path is not None else shipped_weights_dir() / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {path}") from None
    except OSError as error:
        raise ModelError(f"cannot read model manifest {path}: {error.strerror}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from error
    return Manifest.from_dict(data, path=path)


def list_entries(manifest: Manifest | None = None) -> list[ModelEntry]:
    """All published entries, sorted by name."""
    return list((manifest or load_manifest()).models)


def get_entry(name: str, manifest: Manifest | None = None) -> ModelEntry:
    """The entry called ``name`` (or ``"default"``).

    Raises:
        ModelError: ``unknown model 'x'; available: a, b``.
    """
    manifest = manifest or load_manifest()
    return manifest.default_entry() if name == DEFAULT_NAME else manifest.get(name)


def default_model_name(manifest: Manifest | None = None) -> str | None:
    """Name of the default entry, or ``None`` when the manifest names none."""
    return (manifest or load_manifest()).default


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


# --- resolution and download -----------------------------------------------------------------


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


def download_entry(
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download ``entry`` into the cache, verify its SHA-256 and move it into place.

    Each attempt streams to a ``*.partial`` file unique to this call, so concurrent
    downloads of the same file never corrupt each other; the last verified rename wins.
    URLs are tried in order until one succeeds.

    Returns:
        The cached file, :func:`cached_path` of ``entry``.

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
    partial = destination.with_name(f"{destination.name}.{uuid.uuid4().hex}.partial")
    try:
        digest = _stream(url, partial, entry, progress=progress, timeout=timeout)
        if digest != entry.sha256:
            raise _AttemptFailed(
                f"sha256 mismatch: expected {entry.sha256}, got {digest}; "
                "the partial file was deleted"
            )
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def _stream(
    url: str,
    partial: Path,
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None,
    timeout: float,
) -> str:
    """Copy ``url`` to ``partial``; return the SHA-256 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": f"colorcli/{__version__}"})
    digest = hashlib.sha256()
    done = 0
    expected: int | None = None
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout) as response,
            open(partial, "xb") as file,
        ):
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if progress is not None:
                progress(entry, 0)
            while block := response.read(_CHUNK):
                done += len(block)
                if done > entry.size:
                    raise _AttemptFailed(f"received more than the expected {entry.size} bytes")
                digest.update(block)
                file.write(block)
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


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.endswith(_CHECKPOINT_SUFFIXES)


# --- cache maintenance and publishing --------------------------------------------------------


def remove_cached(name: str, manifest: Manifest | None = None) -> list[Path]:
    """Delete the cached copy of a model (and leftover partial downloads).

    Shipped files are never touched.

    Returns:
        The paths removed; empty when nothing was cached.

    Raises:
        ModelError: Unknown name.
    """
    entry = get_entry(name, manifest)
    target = cached_path(entry)
    candidates = [target, *sorted(target.parent.glob(f"{glob.escape(target.name)}.*.partial"))]
    removed = []
    for path in candidates:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


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
        shutil.copyfile(src, target)
    updated.save(manifest_path)
    return entry


# --- field checks ----------------------------------------------------------------------------

_MISSING: Any = object()


def _typed(
    data: Mapping[str, Any], key: str, kind: type, where: str, default: Any = _MISSING
) -> Any:
    if key not in data:
        if default is _MISSING:
            raise ModelError(f"{where}: missing field {key!r}")
        return default
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ModelError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _typed_list(data: Mapping[str, Any], key: str, where: str) -> Iterable[str]:
    value = _typed(data, key, list, where, [])
    if not all(isinstance(item, str) for item in value):
        raise ModelError(f"{where}: field {key!r} must be a list of strings")
    return value
