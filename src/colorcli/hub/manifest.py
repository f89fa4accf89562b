"""The manifest: published checkpoints described as data, and where the shipped ones live."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorcli.atomic import atomic_write
from colorcli.errors import ModelError, UnknownModelError

__all__ = [
    "DEFAULT_NAME",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "Manifest",
    "ModelEntry",
    "default_model_name",
    "get_entry",
    "list_entries",
    "load_manifest",
    "shipped_path",
    "shipped_weights_dir",
]

MANIFEST_FORMAT = 1
"""The manifest layout this version reads and writes."""

MANIFEST_NAME = "manifest.json"

DEFAULT_NAME = "default"
"""The model name that stands for the manifest's default entry."""

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


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
        """Write pretty, stable JSON to ``path`` with :func:`colorcli.atomic.atomic_write`.

        Raises:
            OSError: the file cannot be written; an existing one is left as it was.
        """
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))

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


# --- the shipped weights --------------------------------------------------------------------


def shipped_weights_dir() -> Path:
    """Directory of checkpoints shipped with colorcli, holding ``manifest.json``.

    In a wheel it is ``colorcli/weights`` inside the package; in a development checkout
    it is the repository's top-level ``weights/``.
    """
    package = Path(__file__).resolve().parents[1]
    inside = package / "weights"
    return inside if inside.is_dir() else package.parents[1] / "weights"


def shipped_path(entry: ModelEntry) -> Path:
    """Where a copy shipped with colorcli would be."""
    return shipped_weights_dir() / entry.file


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
