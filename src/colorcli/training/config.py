"""``TrainConfig``: every setting of a training run, typed, validated and saved in checkpoints."""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from colorcli.errors import UsageError
from colorcli.models import get_body_builder, list_models
from colorcli.palette import DECODE_METHODS

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
AMP_MODES = ("auto", "bf16", "fp16", "off")
LOSSES = ("mse", "smooth_l1")
BEST_METRICS = ("val_loss", "val_psnr")
MIN_SIZE = 8
"""Smallest training crop side: below it a crop has no room for the body's down-sampling
(and a 1-pixel crop broke the flip augmentation)."""

BODY_OPTIONS = (
    "width",
    "depth",
    "output_stride",
    "layers",
    "hidden",
    "embed_size",
    "embedder",
    "pretrained",
    "guided",
)
"""Fields of :class:`TrainConfig` passed to the body builder when set (None = its default)."""

RUN_CONTROL_FIELDS = frozenset(
    {
        "epochs",
        "max_minutes",
        "max_steps",
        "workers",
        "threads",
        "save_every",
        "log_every",
        "val_limit",
        "samples",
        "export",
        "export_half",
        "export_from",
        "device",
        "out",
    }
)
"""Settings that may change when a run is resumed; the others must stay as saved."""

SESSION_LIMITS = ("max_minutes", "max_steps")
"""Limits of one invocation: not inherited by a resumed run (give them again)."""


EXPORT_SOURCES = ("best", "last")
"""Which checkpoint ``--export`` writes."""


def field_choices() -> dict[str, tuple[str, ...]]:
    """Fields that take one of a fixed set of values -> those values (``arch``: the registry)."""
    return {
        "arch": tuple(list_models()),
        "loss": LOSSES,
        "decode": DECODE_METHODS,
        "optimizer": OPTIMIZERS,
        "schedule": SCHEDULES,
        "amp": AMP_MODES,
        "best_metric": BEST_METRICS,
        "export_from": EXPORT_SOURCES,
    }


@dataclass
class TrainConfig:
    """Settings of one training run (every ``colorcli train`` flag maps onto a field).

    Model:
        arch: registry name (see :func:`colorcli.models.list_models`).
        colors: None for ab regression, an int K for a k-means palette of K colours fitted
            on the training pixels, or ``"gamut"`` for Zhang et al.'s ab bins.
        loss: regression loss, ``mse`` or ``smooth_l1``.
        decode, temperature: decoding of classification heads.
        rebalance: class rebalancing (None: on for gamut, off for palettes).
        width, depth, output_stride, layers, hidden, embed_size, embedder, pretrained, guided:
            body options (None leaves the body's own default); ``guided`` adds colour-hint
            inputs (lite bodies), trained on hints simulated from the truth.
        palette_pixels: ab pixels sampled from the training set to fit the palette.
        freeze_encoder: fraction of the run's steps (over all its epochs) during which a
            pretrained encoder (the ``lite`` bodies with ``--pretrained``) stays frozen;
            1 keeps it frozen throughout.
        unfreeze_levels: encoder feature levels, from the top (stride 32 down), trained after
            that (0-5).
        encoder_lr: learning rate of the unfrozen encoder levels, as a fraction of ``lr``.
        hints_only: guided models: train only the hint branch, the rest frozen (weights
            and BatchNorm statistics), so the model without hints stays exactly the one
            it was initialised from (ControlNet's recipe).

    Data:
        data: data set path (None: the built-in demonstration images).
        size: side of the square training crops in pixels.
        val_split, classes, limit, augment: see :func:`colorcli.data.open_dataset`.
        val_limit: validate on at most this many val images per epoch.
        samples: val images shown in the per-epoch sample grid.
        workers: DataLoader worker processes (0 = load in the main process).
        threads: torch CPU threads of the training process (None: torch's default, all
            cores; with workers on a small machine, cores minus workers avoids contention).

    Optimisation:
        epochs, batch_size, optimizer (``adam``/``adamw``), lr (peak), weight_decay,
        schedule (``onecycle``/``cosine``/``constant``), warmup_steps (cosine/constant),
        clip_grad (max gradient norm; None = off), amp (``auto``/``bf16``/``fp16``/``off``),
        seed, deterministic (deterministic kernels, slower on CUDA).

    Run:
        out: run folder (None: ``runs/<arch>-<colors>-<timestamp>``).
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``.
        save_every: also write last.pt every N steps (0 = only at epoch ends).
        log_every: steps between logged (synchronised) losses.
        best_metric: ``val_loss`` (lower is better) or ``val_psnr`` (higher is better).
        max_minutes: stop cleanly after this much training time in this session.
        max_steps: stop cleanly once this many steps are done in total (the learning-rate
            schedule still spans ``epochs``).
        init_from: published name or checkpoint path to initialise the weights from.
        export, export_half: write a slim inference checkpoint of the best weights at the end.
        export_from: which weights ``export`` writes: ``best`` (best.pt, else last.pt) or
            ``last`` (the final weights).
    """

    # model
    arch: str = "unet"
    colors: int | str | None = None
    loss: str = "mse"
    decode: str = "annealed"
    temperature: float = 0.38
    rebalance: bool | None = None
    width: int | None = None
    depth: int | None = None
    output_stride: int | None = None
    layers: int | None = None
    hidden: int | None = None
    embed_size: int | None = None
    embedder: str | None = None
    pretrained: bool | None = None
    guided: bool | None = None
    palette_pixels: int = 100_000
    freeze_encoder: float = 0.5
    unfreeze_levels: int = 2
    encoder_lr: float = 0.1
    hints_only: bool = False
    # data
    data: str | None = None
    size: int = 64
    val_split: float = 0.05
    classes: tuple[str, ...] | None = None
    limit: int | None = None
    augment: bool = True
    val_limit: int = 256
    samples: int = 8
    workers: int = 2
    threads: int | None = None
    # optimisation
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    warmup_steps: int = 0
    clip_grad: float | None = None
    amp: str = "auto"
    seed: int = 0
    deterministic: bool = False
    # run
    out: str | None = None
    device: str = "auto"
    save_every: int = 0
    log_every: int = 50
    best_metric: str = "val_loss"
    max_minutes: float | None = None
    max_steps: int | None = None
    init_from: str | None = None
    export: str | None = None
    export_half: bool = False
    export_from: str = "best"

    def __post_init__(self) -> None:
        self.colors = parse_colors(self.colors)
        if self.classes is not None:
            self.classes = tuple(self.classes)
        self.validate()

    def validate(self) -> None:
        """Check every value; raises UsageError naming the flag and what it got."""
        for option in dataclasses.fields(self):
            value = getattr(self, option.name)
            if isinstance(value, float) and not math.isfinite(value):  # NaN passes any `<`
                raise UsageError(f"{_flag(option.name)} must be a finite number, got {value}")
        if self.arch not in list_models():
            raise UsageError(
                f"--arch: unknown architecture {self.arch!r}; choose from "
                f"{', '.join(list_models())}"
            )
        for name, choices in field_choices().items():
            if name != "arch":  # refused above, with the registry's own wording
                _choice(name, getattr(self, name), choices)
        _at_least("size", self.size, MIN_SIZE)
        for name in ("epochs", "batch_size", "samples", "log_every", "palette_pixels"):
            _at_least(name, getattr(self, name), 1)
        for name in ("workers", "save_every", "warmup_steps", "val_limit"):
            _at_least(name, getattr(self, name), 0)
        for name in ("limit", "max_steps", "threads"):
            if getattr(self, name) is not None:
                _at_least(name, getattr(self, name), 1)
        if not 0.0 <= self.val_split < 1.0:
            raise UsageError(f"--val-split must be in [0, 1), got {self.val_split}")
        if not 0.0 <= self.freeze_encoder <= 1.0:
            raise UsageError(f"--freeze-encoder must be in [0, 1], got {self.freeze_encoder}")
        if not 0 <= self.unfreeze_levels <= 5:
            raise UsageError(f"--unfreeze-levels must be in 0-5, got {self.unfreeze_levels}")
        if self.hints_only and not self.guided:
            raise UsageError("--hints-only trains a guided model's hint branch: add --guided")
        if not self.encoder_lr > 0:
            raise UsageError(f"--encoder-lr must be positive, got {self.encoder_lr}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise UsageError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.temperature <= 0:
            raise UsageError(f"--temperature must be positive, got {self.temperature}")
        if self.clip_grad is not None and self.clip_grad <= 0:
            raise UsageError(f"--clip-grad must be positive, got {self.clip_grad}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UsageError(f"--max-minutes must be positive, got {self.max_minutes}")
        if self.colors is None and self.rebalance:
            raise UsageError("--rebalance needs a classification head (--colors K or gamut)")
        builder_options = set(inspect.signature(get_body_builder(self.arch)).parameters)
        for name in BODY_OPTIONS:
            if getattr(self, name) is not None and name not in builder_options:
                valid = ", ".join(_flag(option) for option in sorted(builder_options)) or "none"
                raise UsageError(
                    f"{_flag(name)} does not apply to --arch {self.arch} (its options: {valid})"
                )

    def body_config(self) -> dict[str, Any]:
        """Body options that were set, as keywords of the body builder."""
        return {
            name: getattr(self, name) for name in BODY_OPTIONS if getattr(self, name) is not None
        }

    def model_kwargs(self) -> dict[str, Any]:
        """Keywords of :func:`colorcli.models.get_model` (without ``num_classes``)."""
        return {
            "colors": self.colors,
            "loss": self.loss,
            "decode": self.decode,
            "temperature": self.temperature,
            "rebalance": self.rebalance,
            **self.body_config(),
        }

    def head_name(self) -> str:
        """``regression``, ``palette16`` or ``gamut``: names run folders and summaries."""
        if self.colors is None:
            return "regression"
        return "gamut" if self.colors == "gamut" else f"palette{self.colors}"

    def default_out(self, now: float | None = None) -> str:
        """``runs/<arch>-<colors>-<YYYYmmdd-HHMMSS>``."""
        colors = "reg" if self.colors is None else str(self.colors)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        return str(Path("runs") / f"{self.arch}-{colors}-{stamp}")

    def as_dict(self) -> dict[str, Any]:
        """Plain-value form (saved in checkpoints, loadable with ``weights_only=True``)."""
        return dataclasses.asdict(self)


def parse_colors(value: object) -> int | str | None:
    """``None``/``"regression"`` -> None, ``"gamut"`` -> ``"gamut"``, ``"16"``/16 -> 16.

    Raises:
        UsageError: anything else, or fewer than 2 colours.
    """
    if value is None or value == "regression" or value == "":
        return None
    if value == "gamut":
        return "gamut"
    if isinstance(value, bool):
        raise UsageError(f"--colors must be a number of colours or 'gamut', got {value!r}")
    try:
        colors = int(str(value))
    except ValueError:
        raise UsageError(
            f"--colors must be a number of colours (e.g. 16) or 'gamut', got {value!r}"
        ) from None
    if colors < 2:
        raise UsageError(f"--colors must be at least 2, got {colors}")
    return colors


def config_fields() -> dict[str, Any]:
    """Field name -> resolved type of :class:`TrainConfig`."""
    return get_type_hints(TrainConfig)


def build_config(
    settings: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    base: TrainConfig | None = None,
) -> TrainConfig:
    """Merge settings: ``base`` (or the defaults) < ``config_file`` (TOML) < ``settings``.

    With ``base`` (the saved config of a run being resumed), only the run-control
    fields (:data:`RUN_CONTROL_FIELDS`) may change; other settings must equal the saved ones.
    The session limits ``max_minutes`` and ``max_steps`` are not inherited from ``base``.

    Raises:
        UsageError: an unknown key, a value of the wrong type, or a changed model/data
            setting on resume.
    """
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(load_config_file(config_file))
    merged.update({key: value for key, value in (settings or {}).items() if value is not None})
    values = _coerce(merged, "settings")
    if base is None:
        return TrainConfig(**values)
    saved = base.as_dict()
    for key, value in values.items():
        if key in RUN_CONTROL_FIELDS:
            continue
        if key == "colors":
            value = parse_colors(value)
        if key == "classes" and value is not None:
            value = tuple(value)
        if _same(value, saved[key]):
            continue
        raise UsageError(
            f"{_flag(key)} {value!r} differs from the run being resumed ({saved[key]!r}); "
            "drop it, or start a new run with another --out"
        )
    saved.update({key: None for key in SESSION_LIMITS})
    saved.update({key: value for key, value in values.items() if key in RUN_CONTROL_FIELDS})
    return TrainConfig(**saved)


def config_from_dict(saved: Mapping[str, Any]) -> TrainConfig:
    """Rebuild the config saved in a checkpoint (unknown keys from other versions ignored)."""
    known = config_fields()
    return TrainConfig(**_coerce({k: v for k, v in saved.items() if k in known}, "checkpoint"))


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML file of settings: keys are field names (``batch_size`` or ``batch-size``).

    A ``[train]`` table is used when present, else the top level.

    Raises:
        UsageError: missing or malformed file, unknown keys, or Python < 3.11 without tomli.
    """
    path = Path(path)
    toml = _toml_module(path)
    try:
        data = toml.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read config file ({error})") from None
    except toml.TOMLDecodeError as error:
        raise UsageError(f"{path}: invalid TOML ({error})") from None
    if isinstance(data.get("train"), dict):
        data = data["train"]
    settings = {str(key).replace("-", "_"): value for key, value in data.items()}
    return _coerce(settings, str(path))


def _toml_module(path: Path) -> types.ModuleType:
    """``tomllib`` (Python 3.11+), else ``tomli`` if installed."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10 only
        import tomli

        return tomli
    except ImportError:  # pragma: no cover - Python 3.10 only
        raise UsageError(
            f"{path}: reading TOML config files needs Python 3.11 or newer "
            "(or the tomli package); pass the settings as flags instead"
        ) from None


def _coerce(settings: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check keys and value types against the fields (ints accepted for floats)."""
    known = config_fields()
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise UsageError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    values: dict[str, Any] = {}
    for key, value in settings.items():
        values[key] = _coerce_value(key, value, known[key], source)
    return values


def _coerce_value(key: str, value: Any, annotation: Any, source: str) -> Any:
    if value is None:
        return None
    kinds = _allowed_types(annotation)
    if key == "colors":
        return parse_colors(value)
    if key == "classes":
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return tuple(item.strip() for item in value)
    elif isinstance(value, bool):
        if bool in kinds:
            return value
    elif isinstance(value, int) and int in kinds:
        return value
    elif isinstance(value, (int, float)) and float in kinds:
        return float(value)
    elif isinstance(value, str) and str in kinds:
        return value
    elif isinstance(value, Path) and str in kinds:
        return str(value)
    expected = " or ".join(kind.__name__ for kind in kinds)
    raise UsageError(f"{source}: {key} must be {expected}, got {value!r}")


def _allowed_types(annotation: Any) -> list[type]:
    if get_origin(annotation) in (Union, types.UnionType):
        kinds: list[type] = []
        for arg in get_args(annotation):
            kinds.extend(_allowed_types(arg))
        return kinds
    if annotation is type(None):
        return []
    origin = get_origin(annotation)
    return [origin if origin is not None else annotation]


def _same(value: Any, saved: Any) -> bool:
    if isinstance(value, float) or isinstance(saved, float):
        try:
            return float(value) == float(saved)
        except (TypeError, ValueError):
            return False
    if isinstance(value, (list, tuple)) and isinstance(saved, (list, tuple)):
        return list(value) == list(saved)
    return bool(value == saved)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{_flag(name)} must be one of {', '.join(choices)}, got {value!r}")


def _at_least(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"{_flag(name)} must be an integer >= {minimum}, got {value!r}")
