"""What last.pt and best.pt hold: counters, summary and RNG; saved safely, restored exactly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from colorcli.checkpoint import checkpoint_from_model, model_from_checkpoint, save_checkpoint
from colorcli.errors import TrainingError
from colorcli.models import ColorModel
from colorcli.training.config import TrainConfig, build_config, config_from_dict
from colorcli.training.run_folder import RunFolder, read_training_state, resolve_resume_path
from colorcli.training.seeding import capture_rng_state, restore_rng_state

RECORD_METRICS = ("epoch", "val_loss", "val_psnr", "val_colorfulness", "train_loss")
"""Fields of the last validation record copied into a checkpoint's ``metrics``."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Progress:
    """The run's counters: all a resumed run needs besides weights, optimizer and RNG.

    Attributes:
        epoch: full epochs done.
        step: optimizer steps done.
        step_in_epoch: steps done in the current epoch.
        images_seen: training images processed (all ranks).
        hours_before: training hours of earlier sessions.
        sessions: one summary per earlier session.
        history: one validation record per validation.
        best_value: the best value of ``best_metric`` so far.
        best_metric: the record field that picks ``best.pt``.
        epoch_loss_sum: summed training loss of the current epoch (this rank).
        epoch_loss_count: steps in ``epoch_loss_sum``.
    """

    best_metric: str
    epoch: int = 0
    step: int = 0
    step_in_epoch: int = 0
    images_seen: int = 0
    hours_before: float = 0.0
    sessions: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0

    def fold_loss(self, loss_total: Tensor) -> None:
        """Move the device-side epoch loss sum into the Python counters (one sync)."""
        self.epoch_loss_sum += float(loss_total)
        self.epoch_loss_count = self.step_in_epoch
        loss_total.zero_()


@dataclass
class Session:
    """This process's share of the run, recorded in the checkpoint's ``sessions``."""

    device: str
    world_size: int
    command: str
    resumed_from: str | None
    start: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=_now)
    start_step: int = 0

    def seconds(self) -> float:
        """Seconds since this session's clock started."""
        return time.monotonic() - self.start


def run_hours(progress: Progress, session: Session) -> float:
    """Training hours in total, across resumed sessions."""
    return progress.hours_before + session.seconds() / 3600.0


def restore_progress(
    state: dict[str, Any],
    *,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    source: str | None,
    best_metric: str,
) -> Progress:
    """Load the optimizer, scaler and RNG of a training checkpoint; return its counters.

    Raises:
        TrainingError: the optimizer state does not fit this model.
    """
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError) as error:
        raise TrainingError(f"{source}: optimizer state does not fit: {error}") from None
    if state.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(state["scaler"])
    restore_rng_state(state.get("rng", {}))
    summary = state["model"].get("training", {})
    best = state.get("best_metric")
    loss_sum, loss_count = state.get("epoch_loss", (0.0, 0))
    return Progress(
        epoch=int(state["epoch"]),
        step=int(state["step"]),
        step_in_epoch=int(state.get("step_in_epoch", 0)),
        images_seen=int(summary.get("images_seen", 0)),
        hours_before=float(summary.get("hours", 0.0)),
        sessions=list(summary.get("sessions", [])),
        history=[dict(record) for record in state.get("history", [])],
        best_value=None if best is None else float(best),
        best_metric=str(state.get("best_metric_name", best_metric)),
        epoch_loss_sum=float(loss_sum),
        epoch_loss_count=int(loss_count),
    )


def run_summary(
    config: TrainConfig,
    progress: Progress,
    session: Session,
    *,
    data: dict[str, Any],
    stopped: str | None = None,
) -> dict[str, Any]:
    """The ``training`` metadata of a checkpoint: counters, sessions, data and config."""
    this_session = {
        "started": session.started_at,
        "hours": round(session.seconds() / 3600.0, 6),
        "steps": progress.step - session.start_step,
        "device": session.device,
        "world_size": session.world_size,
        "command": session.command,
        "resumed_from": session.resumed_from,
    }
    if stopped is not None:
        this_session["stopped"] = stopped
    return {
        "arch": config.arch,
        "head": config.head_name(),
        "epochs": progress.epoch,
        "steps": progress.step,
        "images_seen": progress.images_seen,
        "hours": round(run_hours(progress, session), 6),
        "device": session.device,
        "command": session.command,
        "sessions": [*progress.sessions, this_session],
        "best_metric": progress.best_metric,
        "best_value": progress.best_value,
        "data": data,
        "config": config.as_dict(),
        "finished_at": _now(),
    }


def training_state(
    config: TrainConfig,
    progress: Progress,
    *,
    model: ColorModel,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    total_steps: int,
    summary: dict[str, Any],
) -> dict[str, Any]:
    """A whole training checkpoint (nanoGPT style): model, optimizer, counters, config, RNG."""
    metrics = {}
    if progress.history:
        last = progress.history[-1]
        metrics = {key: last[key] for key in RECORD_METRICS if last.get(key) is not None}
    return {
        "model": checkpoint_from_model(model, training=summary, metrics=metrics),
        "optimizer": optimizer.state_dict(),
        "scheduler": {
            "schedule": config.schedule,
            "step": progress.step,
            "total_steps": total_steps,
        },
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "epoch": progress.epoch,
        "step": progress.step,
        "step_in_epoch": progress.step_in_epoch,
        "epoch_loss": [progress.epoch_loss_sum, progress.epoch_loss_count],
        "best_metric": progress.best_value,
        "best_metric_name": progress.best_metric,
        "history": [dict(record) for record in progress.history],
        "config": config.as_dict(),
        "rng": capture_rng_state(),
    }


def _finite_parameters(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class CheckpointWriter:
    """Writes last.pt and best.pt (rank 0 only), never with non-finite weights.

    The run folder (and its config.json) is created on first use, so that a run failing in
    setup or in its first step leaves no folder holding only config.json.
    """

    def __init__(self, folder: RunFolder, config: TrainConfig, *, is_main: bool) -> None:
        self.folder = folder
        self.config = config
        self.is_main = is_main
        self.saved_step: int | None = None
        self._folder_open = False

    def open_folder(self) -> None:
        """Create the run folder and write config.json, once, before its first file."""
        if self._folder_open or not self.is_main:
            return
        try:
            self.folder.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TrainingError(
                f"{self.folder.path}: cannot create the run folder: {error.strerror or error}"
            ) from None
        self.folder.remove_stale_partials(self.config.epochs)  # left by a killed run
        self.folder.write_config(self.config.as_dict())
        self._folder_open = True

    def nan_error(self, what: str, progress: Progress) -> TrainingError:
        """The error for a NaN/inf found at ``progress.step``, saying what was kept."""
        if self.saved_step is not None:
            kept = f"{self.folder.last} (step {self.saved_step}) is intact"
        else:
            kept = "no checkpoint had been written yet"
        return TrainingError(
            f"{what} at step {progress.step} (epoch {progress.epoch + 1}); training stopped and "
            f"nothing was saved: {kept}. Try a lower --lr, --clip-grad 1.0 or --amp off"
        )

    def save_last(
        self, model: nn.Module, progress: Progress, state: Callable[[], dict[str, Any]]
    ) -> None:
        """Write last.pt from ``state()`` (built on rank 0 only)."""
        self._save(self.folder.last, model, progress, state)
        self.saved_step = progress.step

    def save_best(
        self, model: nn.Module, progress: Progress, state: Callable[[], dict[str, Any]]
    ) -> None:
        """Write best.pt from ``state()`` (built on rank 0 only)."""
        self._save(self.folder.best, model, progress, state)

    def _save(
        self,
        path: Path,
        model: nn.Module,
        progress: Progress,
        state: Callable[[], dict[str, Any]],
    ) -> None:
        if not _finite_parameters(model):
            raise self.nan_error("the weights became NaN/inf", progress)
        if self.is_main:
            self.open_folder()
            self.folder.save(path, state())


def export_weights(
    folder: RunFolder, path: Path, *, summary: dict[str, Any], half: bool, source: str = "best"
) -> tuple[Path, str]:
    """Write the slim inference checkpoint of the best (else last) weights to ``path``;
    ``source="last"``: of the last weights.

    Returns:
        ``(path, name)``: where it went and which checkpoint it came from.
    """
    chosen = folder.best if source == "best" and folder.best.is_file() else folder.last
    state = read_training_state(chosen)
    model = model_from_checkpoint(state["model"], source=str(chosen))
    summary["weights_from"] = f"{chosen.name} (step {state['step']})"
    save_checkpoint(
        path,
        checkpoint_from_model(
            model,
            training=summary,
            metrics=dict(state["model"].get("metrics", {})),
            half=half,
        ),
    )
    return path, chosen.name


def load_resume(
    resume: str | Path | None,
    *,
    settings: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
) -> tuple[TrainConfig, dict[str, Any], Path]:
    """Find and read the checkpoint to resume and rebuild its config (nanoGPT style).

    Args:
        resume: a training checkpoint or run folder; None means ``settings["out"]``.
        settings: command-line settings; only run-control ones may differ from the saved
            config (see :data:`~colorcli.training.config.RUN_CONTROL_FIELDS`).
        config_file: optional TOML settings, applied before ``settings``.

    Returns:
        ``(config, state, path)``; ``config.out`` is ``settings["out"]`` or the checkpoint's folder.

    Raises:
        CheckpointError: nothing to resume, or an unreadable checkpoint.
        UsageError: a model or data setting differs from the saved run.
    """
    settings = dict(settings or {})
    path = resolve_resume_path(resume, settings.get("out"))
    state = read_training_state(path)
    saved = config_from_dict(state["config"])
    settings.setdefault("out", str(path.parent))
    config = build_config(settings, config_file=config_file, base=saved)
    return config, state, path
