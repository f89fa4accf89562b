"""The training loop: from a TrainConfig to trained, checkpointed weights; stops cleanly."""

from __future__ import annotations

import contextlib
import math
import platform
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from colorcli.checkpoint import checkpoint_from_model, model_from_checkpoint, save_checkpoint
from colorcli.data import DatasetBundle, open_dataset
from colorcli.device import describe_device, resolve_device
from colorcli.errors import TrainingError, UsageError
from colorcli.guidance import simulate_training_hints, simulate_training_reference
from colorcli.training import distributed
from colorcli.training.config import TrainConfig, build_config, config_from_dict
from colorcli.training.distributed import DistributedContext
from colorcli.training.loaders import EpochSampler, load_val_batches, steps_per_epoch, train_loader
from colorcli.training.model_setup import build_model
from colorcli.training.plots import loss_curve_image, sample_grid_image, save_image
from colorcli.training.progress import RunStart, StepUpdate, TrainingObserver
from colorcli.training.run_folder import RunFolder, read_training_state, resolve_resume_path
from colorcli.training.schedule import learning_rate
from colorcli.training.seeding import capture_rng_state, restore_rng_state, seed_everything
from colorcli.training.validation import autocast, predict_samples, validation_sums

VAL_HINTS = 10
"""Guided models are validated (and best.pt chosen) with this many simulated hints."""
HINTS_ONLY_NO_HINT = 0.1
"""--hints-only: share of images with a reference but no local hint."""
STOP_FINISHED = "finished"
STOP_TIME = "time budget"
STOP_STEPS = "max steps"
STOP_INTERRUPTED = "interrupted"


@dataclass
class TrainResult:
    """What a finished (or cleanly stopped) run produced.

    Attributes:
        out_dir: the run folder.
        last_path: ``last.pt``.
        best_path: ``best.pt`` (None if no validation happened).
        export_path: the slim inference checkpoint, when ``export`` was asked.
        stopped: ``finished``, ``time budget``, ``max steps`` or ``interrupted``.
        epochs_completed: full epochs done in total.
        step: optimizer steps done in total.
        images_seen: training images processed in total (all ranks).
        hours: training hours in total, across resumed sessions.
        best_metric: name of the metric that picks ``best.pt``.
        best_value: its best value.
        last_record: the last validation record.
        data: the data set summary (counts, skipped files, …).
    """

    out_dir: Path
    last_path: Path
    best_path: Path | None
    export_path: Path | None
    stopped: str
    epochs_completed: int
    step: int
    images_seen: int
    hours: float
    best_metric: str
    best_value: float | None
    last_record: dict[str, Any] | None
    data: dict[str, Any] = field(default_factory=dict)


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


def train(
    config: TrainConfig,
    *,
    resume_state: dict[str, Any] | None = None,
    resume_path: str | Path | None = None,
    observer: TrainingObserver | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train a colouriser as ``config`` says; under ``torchrun``, with DDP.

    Args:
        config: the run's settings.
        resume_state: a training checkpoint from :func:`load_resume` to continue exactly.
        resume_path: where ``resume_state`` came from (for messages).
        observer: receives progress events (only on rank 0); silent by default.
        command: the command line to record (default: ``sys.argv``).

    Returns:
        A :class:`TrainResult` (on every rank; only rank 0 writes files).

    Raises:
        TrainingError: NaN/inf loss (the last checkpoint is kept intact), bad settings for
            this data or model, or a distributed setup failure.
        DataError, CheckpointError, ModelError, DeviceError, UsageError: from the parts.
    """
    context = distributed.context_from_env()
    device = resolve_device(config.device)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
    distributed.setup(context, device)
    trainer = _Trainer(
        config,
        context=context,
        device=device,
        observer=observer if observer is not None and context.is_main else TrainingObserver(),
        command=command if command is not None else shlex.join(sys.argv),
        resume_state=resume_state,
        resume_path=None if resume_path is None else str(resume_path),
    )
    try:
        return trainer.run()
    finally:
        trainer.observer.on_end()
        distributed.teardown()


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off":
        return None
    if mode == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "fp16":
        if device.type != "cuda":
            raise UsageError(f"--amp fp16 needs a CUDA device (training on {device.type})")
        return torch.float16
    if device.type == "mps":
        raise UsageError("--amp bf16 is not supported on MPS; use --amp off")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("--amp bf16: this GPU has no bfloat16 support; use --amp fp16")
    return torch.bfloat16


def _amp_name(dtype: torch.dtype | None) -> str:
    return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def _param_groups(
    model: nn.Module, weight_decay: float, encoder_lr: float = 1.0
) -> list[dict[str, Any]]:
    """Decay weight matrices and convolution kernels, not biases or norms (nanoGPT).

    A body with a staged pretrained encoder (``set_trainable_levels``) gets two more groups
    holding all its encoder parameters, frozen or not, at ``encoder_lr`` × the learning
    rate: frozen ones have no gradient and are skipped by the optimizer until unfrozen.
    """
    encoder: list[nn.Parameter] = []
    body = getattr(model, "body", None)
    if body is not None and hasattr(body, "set_trainable_levels"):
        encoder = list(body.encoder_parameters())
    encoder_ids = {id(p) for p in encoder}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in encoder_ids]
    groups: list[dict[str, Any]] = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    if encoder:
        groups += [
            {
                "params": [p for p in encoder if p.dim() >= 2],
                "weight_decay": weight_decay,
                "lr_scale": encoder_lr,
            },
            {
                "params": [p for p in encoder if p.dim() < 2],
                "weight_decay": 0.0,
                "lr_scale": encoder_lr,
            },
        ]
    return groups


def _set_encoder_stage(model: nn.Module, config: TrainConfig, step: int, total_steps: int) -> None:
    """Freeze a pretrained encoder for the first ``freeze_encoder`` of the steps, then train
    its top ``unfreeze_levels`` levels (a pure function of the step, so resume agrees)."""
    body = getattr(model, "body", None)
    if body is None or not hasattr(body, "set_trainable_levels"):
        return
    if not bool(getattr(body, "imagenet_statistics", False)):
        return  # trained from scratch: every level trains from the start
    frozen = step < config.freeze_encoder * total_steps
    levels = 0 if frozen else config.unfreeze_levels
    if body.trainable_levels != levels:
        body.set_trainable_levels(levels)


def _hardware(device: torch.device) -> str:
    """``describe_device`` plus the CPU model on CPU (for the training summary)."""
    name = describe_device(device)
    if device.type != "cpu":
        return name
    model = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{name}, {model}" if model else name


def _finite_parameters(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class _Speedometer:
    """Training images per second, smoothed over recent steps (host clock, no device sync)."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self.smoothing = smoothing
        self.last: float | None = None
        self.seconds_per_image: float | None = None

    def pause(self) -> None:
        """Do not count the time until the next update (validation, loader start-up)."""
        self.last = None

    def update(self, images: int) -> float:
        """Record a step of ``images`` images; returns the smoothed images per second."""
        now = time.monotonic()
        if self.last is not None and images > 0:
            per_image = (now - self.last) / images
            if self.seconds_per_image is None:
                self.seconds_per_image = per_image
            else:
                self.seconds_per_image += self.smoothing * (per_image - self.seconds_per_image)
        self.last = now
        if not self.seconds_per_image:
            return 0.0
        return 1.0 / self.seconds_per_image


class _StopRequest:
    """Turns the first Ctrl-C (SIGINT) into a flag checked between steps; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        try:
            previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: plain KeyboardInterrupt handling only
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class _Trainer:
    """One run: the state the loop needs (kept out of ``train`` for readability)."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        context: DistributedContext,
        device: torch.device,
        observer: TrainingObserver,
        command: str,
        resume_state: dict[str, Any] | None,
        resume_path: str | None,
    ) -> None:
        self.config = config
        self.context = context
        self.device = device
        self.observer = observer
        self.command = command
        self.resume_state = resume_state
        self.resume_path = resume_path
        self.is_main = context.is_main
        if config.out is None:
            config.out = config.default_out()
        self.folder = RunFolder(config.out)
        self.amp_dtype = _amp_dtype(config.amp, device)
        self.channels_last = device.type == "cuda"
        self.stop = _StopRequest()
        # progress counters (restored on resume)
        self.epoch = 0
        self.step = 0
        self.step_in_epoch = 0
        self.images_seen = 0
        self.hours_before = 0.0
        self.sessions: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.best_value: float | None = None
        self.best_metric = config.best_metric
        self.epoch_loss_sum = 0.0
        self.epoch_loss_count = 0
        self.saved_step: int | None = None
        self._updating = False
        self._folder_open = False
        self.session_start = time.monotonic()
        self.session_started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.session_start_step = 0

    # ------------------------------------------------------------------ setup

    def _open_data(self) -> DatasetBundle:
        config = self.config
        return open_dataset(
            config.data,
            size=config.size,
            val_split=config.val_split,
            seed=config.seed,
            classes=config.classes,
            augment=config.augment,
            limit=config.limit,
        )

    def _restore(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        state = self.resume_state
        assert state is not None
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as error:
            raise TrainingError(
                f"{self.resume_path}: optimizer state does not fit: {error}"
            ) from None
        if state.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        restore_rng_state(state.get("rng", {}))
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.step_in_epoch = int(state.get("step_in_epoch", 0))
        summary = state["model"].get("training", {})
        self.images_seen = int(summary.get("images_seen", 0))
        self.hours_before = float(summary.get("hours", 0.0))
        self.sessions = list(summary.get("sessions", []))
        self.history = [dict(record) for record in state.get("history", [])]
        best = state.get("best_metric")
        self.best_value = None if best is None else float(best)
        self.best_metric = str(state.get("best_metric_name", self.best_metric))
        loss_sum, loss_count = state.get("epoch_loss", (0.0, 0))
        self.epoch_loss_sum, self.epoch_loss_count = float(loss_sum), int(loss_count)
        self.saved_step = self.step

    # ------------------------------------------------------------------ bookkeeping

    def _hours(self) -> float:
        return self.hours_before + (time.monotonic() - self.session_start) / 3600.0

    def _summary(self, stopped: str | None = None) -> dict[str, Any]:
        session = {
            "started": self.session_started_at,
            "hours": round((time.monotonic() - self.session_start) / 3600.0, 6),
            "steps": self.step - self.session_start_step,
            "device": self.device_name,
            "world_size": self.context.world_size,
            "command": self.command,
            "resumed_from": self.resume_path,
        }
        if stopped is not None:
            session["stopped"] = stopped
        return {
            "arch": self.config.arch,
            "head": self.config.head_name(),
            "epochs": self.epoch,
            "steps": self.step,
            "images_seen": self.images_seen,
            "hours": round(self._hours(), 6),
            "device": self.device_name,
            "command": self.command,
            "sessions": [*self.sessions, session],
            "best_metric": self.best_metric,
            "best_value": self.best_value,
            "data": self.data_info,
            "config": self.config.as_dict(),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _state(self, stopped: str | None = None) -> dict[str, Any]:
        metrics = {}
        if self.history:
            last = self.history[-1]
            metrics = {
                key: last[key]
                for key in ("epoch", "val_loss", "val_psnr", "val_colorfulness", "train_loss")
                if last.get(key) is not None
            }
        return {
            "model": checkpoint_from_model(
                self.model, training=self._summary(stopped), metrics=metrics
            ),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {
                "schedule": self.config.schedule,
                "step": self.step,
                "total_steps": self.total_steps,
            },
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "epoch": self.epoch,
            "step": self.step,
            "step_in_epoch": self.step_in_epoch,
            "epoch_loss": [self.epoch_loss_sum, self.epoch_loss_count],
            "best_metric": self.best_value,
            "best_metric_name": self.best_metric,
            "history": [dict(record) for record in self.history],
            "config": self.config.as_dict(),
            "rng": capture_rng_state(),
        }

    def _nan_error(self, what: str) -> TrainingError:
        if self.saved_step is not None:
            kept = f"{self.folder.last} (step {self.saved_step}) is intact"
        else:
            kept = "no checkpoint had been written yet"
        return TrainingError(
            f"{what} at step {self.step} (epoch {self.epoch + 1}); training stopped and "
            f"nothing was saved: {kept}. Try a lower --lr, --clip-grad 1.0 or --amp off"
        )

    def _save_last(self, stopped: str | None = None) -> None:
        """Write last.pt (rank 0), never with non-finite weights."""
        if not _finite_parameters(self.model):
            raise self._nan_error("the weights became NaN/inf")
        if self.is_main:
            self._open_folder()
            self.folder.save(self.folder.last, self._state(stopped))
        self.saved_step = self.step

    # ------------------------------------------------------------------ validation

    def _validate(self, *, complete: bool, seconds: float) -> dict[str, Any]:
        """Validate, record, save best.pt if better, write metrics and pictures (rank 0)."""
        model = self.model
        model.eval()
        sums = validation_sums(
            model,
            self.val_batches,
            device=self.device,
            amp_dtype=self.amp_dtype,
            channels_last=self.channels_last,
            hints=VAL_HINTS if model.accepts_hints else 0,
        )
        distributed.all_reduce_sum(sums, self.context)
        train_totals = torch.tensor(
            [self.epoch_loss_sum, float(self.epoch_loss_count)],
            dtype=torch.float64,
            device=self.device,
        )
        distributed.all_reduce_sum(train_totals, self.context)
        grid_ab = None
        if self.is_main and self.grid_lightness is not None:
            grid_ab = predict_samples(model, self.grid_lightness, device=self.device)
        model.train()
        loss_sum, psnr_sum, cf_sum, count = (float(value) for value in sums.tolist())
        train_sum, train_count = (float(value) for value in train_totals.tolist())
        train_loss = train_sum / train_count if train_count else None
        if train_loss is not None and not math.isfinite(train_loss):
            raise self._nan_error(f"the training loss is {train_loss}")
        epoch_position = self.epoch + (0 if complete else self.step_in_epoch / self.steps_per_epoch)
        record: dict[str, Any] = {
            "epoch": round(epoch_position, 4),
            "step": self.step,
            "images_seen": self.images_seen,
            "hours": round(self._hours(), 6),
            "train_loss": train_loss,
            "val_loss": loss_sum / count if count else None,
            "val_psnr": psnr_sum / count if count else None,
            "val_colorfulness": cf_sum / count if count else None,
            "val_images": int(count),
            "lr": self._lr(max(0, self.step - 1)),
            "seconds": round(seconds, 3),
            "complete": complete,
            "failed_reads": self.train_dataset.runtime_failures,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if count == 0:
            self.best_metric = "train_loss"
        value = record[self.best_metric]
        better = (
            value is not None
            and math.isfinite(value)
            and (
                self.best_value is None
                or (
                    value > self.best_value
                    if self.best_metric == "val_psnr"
                    else value < self.best_value
                )
            )
        )
        record["best"] = bool(better)
        self.history.append(record)
        self._open_folder()
        if better:
            self.best_value = float(value)
            if not _finite_parameters(model):
                raise self._nan_error("the weights became NaN/inf")
            if self.is_main:
                self.folder.save(self.folder.best, self._state())
        if self.is_main:
            self.folder.write_metrics(self.history)
            # whole epochs, plus where a stopped run stands now
            shown = [r for r in self.history if r["complete"]]
            if not self.history[-1]["complete"]:
                shown.append(self.history[-1])
            save_image(
                loss_curve_image(
                    [r["epoch"] for r in shown],
                    [r["train_loss"] for r in shown],
                    [r["val_loss"] for r in shown],
                    title=f"{self.config.arch} {self.config.head_name()}: loss per epoch",
                ),
                self.folder.loss_curve,
            )
            if grid_ab is not None and self.grid_lightness is not None:
                assert self.grid_ab is not None
                grid_epoch = self.epoch if complete else self.epoch + 1
                save_image(
                    sample_grid_image(self.grid_lightness, grid_ab, self.grid_ab),
                    self.folder.sample_grid(max(1, grid_epoch)),
                )
        self.observer.on_epoch(record)
        return record

    # ------------------------------------------------------------------ the loop

    def _lr(self, step: int) -> float:
        return learning_rate(
            step,
            schedule=self.config.schedule,
            lr=self.config.lr,
            total_steps=self.total_steps,
            warmup_steps=self.config.warmup_steps,
        )

    def _stop_reason(self, synced: bool) -> str | None:
        """Why to stop now, if at all.

        The step limit is the same on every rank; Ctrl-C and the time budget are decided
        together at sync points (``synced``) under DDP, so that all ranks stop at one step.
        """
        config = self.config
        if config.max_steps is not None and self.step >= config.max_steps:
            return STOP_STEPS
        if self.context.enabled and not synced:
            return None
        reason = None
        if self.stop.requested:
            reason = STOP_INTERRUPTED
        elif (
            config.max_minutes is not None
            and time.monotonic() - self.session_start >= config.max_minutes * 60.0
        ):
            reason = STOP_TIME
        if not self.context.enabled:
            return reason
        codes = (STOP_INTERRUPTED, STOP_TIME)
        flags = torch.zeros(len(codes), device=self.device)
        if reason is not None:
            flags[codes.index(reason)] = 1
        distributed.all_reduce_sum(flags, self.context)
        for code, flag in zip(codes, flags.tolist(), strict=True):
            if flag > 0:
                return code
        return None

    def run(self) -> TrainResult:
        """Set up, train until done or stopped, write the final files; see :func:`train`."""
        self._announce(self._setup())
        self.session_start = time.monotonic()
        stopped = self._train_until_stop()
        export_path = None
        if self.config.export is not None and stopped != STOP_INTERRUPTED and self.is_main:
            export_path = self._export(stopped)
        distributed.barrier(self.context)
        return TrainResult(
            out_dir=self.folder.path,
            last_path=self.folder.last,
            best_path=self.folder.best if self.folder.best.is_file() else None,
            export_path=export_path,
            stopped=stopped,
            epochs_completed=self.epoch,
            step=self.step,
            images_seen=self.images_seen,
            hours=self._hours(),
            best_metric=self.best_metric,
            best_value=self.best_value,
            last_record=self.history[-1] if self.history else None,
            data=self.data_info,
        )

    def _setup(self) -> list[str]:
        """Data, model, optimizer, sampler, val cache, restored state; returns notes."""
        config = self.config
        if self.resume_state is None and self.is_main and self.folder.has_run():
            raise UsageError(
                f"{self.folder.path} already holds a run (last.pt); pass --resume to continue "
                "it or choose another --out"
            )
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed, deterministic=config.deterministic)
        if self.device.type == "cuda" and not config.deterministic:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.device_name = _hardware(self.device)
        bundle = self._open_data()
        self.train_dataset = bundle.train
        self.data_info = bundle.info.as_dict()
        if len(bundle.train) == 0:
            raise TrainingError(f"{config.data}: the training split is empty")
        notes: list[str] = []
        if self.resume_state is not None:
            model = model_from_checkpoint(self.resume_state["model"], source=str(self.resume_path))
        else:
            model, notes = build_model(
                config, bundle.train, context=self.context, device=self.device
            )
        model.train()
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        fused = self.device.type == "cuda"
        optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = optimizer_class(
            _param_groups(model, config.weight_decay, config.encoder_lr),
            lr=config.lr,
            fused=fused or None,
        )
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp_dtype == torch.float16
        )
        self.sampler = EpochSampler(len(bundle.train), seed=config.seed, context=self.context)
        self.steps_per_epoch = steps_per_epoch(self.sampler, config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        if self.resume_state is not None:
            self._restore(self.optimizer, self.scaler)
            if self.step_in_epoch >= self.steps_per_epoch:
                raise TrainingError(
                    f"{self.resume_path}: step {self.step_in_epoch} of the epoch is past its "
                    f"{self.steps_per_epoch} steps; was the data set changed?"
                )
        self.session_start_step = self.step
        self.forward_model: nn.Module = model
        if self.context.enabled:
            self.forward_model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.val_batches = load_val_batches(
            bundle.val,
            limit=config.val_limit,
            batch_size=config.batch_size,
            workers=config.workers,
            context=self.context,
            seed=config.seed,
        )
        self.grid_lightness: Tensor | None = None
        self.grid_ab: Tensor | None = None
        if self.is_main and self.val_batches and config.samples > 0:
            self.grid_lightness = torch.cat([b["lightness"] for b in self.val_batches])[
                : config.samples
            ]
            self.grid_ab = torch.cat([b["ab"] for b in self.val_batches])[: config.samples]
        if not self.val_batches:
            notes.append("no validation images: best.pt follows the training loss")
        if self.resume_state is not None and self.epoch >= config.epochs:
            notes.append(
                f"the run has already done its {config.epochs} epoch(s); raise --epochs to "
                "train longer"
            )
        self.val_images = len(bundle.val)
        self.data_description = bundle.info.describe()
        self.parameters = model.num_parameters()
        return notes

    def _open_folder(self) -> None:
        """Create the run folder and write config.json, once, before its first file.

        Deferred until the first step is done (or the first checkpoint is due), so that a run
        failing in setup or in its first step leaves no folder holding only config.json.
        """
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

    def _announce(self, notes: list[str]) -> None:
        config = self.config
        self.observer.on_start(
            RunStart(
                out_dir=str(self.folder.path),
                device=self.device_name,
                arch=config.arch,
                head=config.head_name(),
                parameters=self.parameters,
                data=self.data_description,
                train_images=len(self.train_dataset),
                val_images=self.val_images,
                epochs=config.epochs,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total_steps,
                start_step=self.step,
                start_epoch=self.epoch,
                batch_size=config.batch_size,
                world_size=self.context.world_size,
                amp=_amp_name(self.amp_dtype),
                resumed_from=self.resume_path,
                notes=notes,
            )
        )

    def _train_until_stop(self) -> str:
        """The epochs, then the last.pt of the stop (after validating a partial epoch)."""
        stopped = STOP_FINISHED
        with self.stop.installed():
            try:
                stopped = self._epochs()
            except KeyboardInterrupt:
                if self._updating:
                    raise
                stopped = STOP_INTERRUPTED
            if stopped == STOP_INTERRUPTED:
                self._save_last(stopped)
                self.observer.on_note(
                    f"interrupted: saved {self.folder.last} at step {self.step}; continue with "
                    f"colorcli train --resume {self.folder.path}"
                )
            elif stopped != STOP_FINISHED:
                if self.step_in_epoch > 0:
                    self._validate(complete=False, seconds=0.0)
                self._save_last(stopped)
                self.observer.on_note(
                    f"stopped ({stopped}) at step {self.step}; saved {self.folder.last}; "
                    f"continue with colorcli train --resume {self.folder.path}"
                )
            else:
                self._save_last(stopped)
        return stopped

    def _epochs(self) -> str:
        """Train until the last epoch or a stop request; returns why it stopped."""
        config = self.config
        context = self.context
        pin = self.device.type == "cuda"
        check_every_step = self.device.type == "cpu" and not context.enabled
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        log_every = config.log_every
        images_per_step = config.batch_size * context.world_size
        speedometer = _Speedometer()
        while self.epoch < config.epochs:
            epoch_start = time.monotonic()
            speedometer.pause()  # data loader start-up and validation are not training speed
            self.train_dataset.set_epoch(self.epoch)
            self.sampler.set_epoch(self.epoch, skip=self.step_in_epoch * config.batch_size)
            if self.step_in_epoch == 0:
                self.epoch_loss_sum, self.epoch_loss_count = 0.0, 0
            loss_total = torch.zeros((), dtype=torch.float64, device=self.device)
            log_total = torch.zeros((), dtype=torch.float64, device=self.device)
            log_count = 0
            loader = train_loader(
                self.train_dataset,
                self.sampler,
                batch_size=config.batch_size,
                workers=config.workers,
                seed=config.seed,
                epoch=self.epoch,
                pin_memory=pin,
            )
            for batch in loader:
                if self.step_in_epoch >= self.steps_per_epoch:
                    break
                reason = self._stop_reason(synced=self.step % log_every == 0)
                if reason is not None:
                    self._fold_loss(loss_total)
                    return reason
                lightness = batch["lightness"].to(self.device, non_blocking=pin)
                ab = batch["ab"].to(self.device, non_blocking=pin)
                lightness = lightness.contiguous(memory_format=memory_format)
                lr = self._lr(self.step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                _set_encoder_stage(self.model, config, self.step, self.total_steps)
                guidance = self._simulated_guidance(batch["ab"])
                with autocast(self.device, self.amp_dtype):
                    output = self.forward_model(lightness, *guidance)
                    loss = self.model.loss(output, ab)
                if check_every_step and not bool(torch.isfinite(loss)):
                    raise self._nan_error(f"the loss is {float(loss.detach())}")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if config.clip_grad is not None:
                    self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad)
                self._updating = True
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self._updating = False
                self.step += 1
                self.step_in_epoch += 1
                self._open_folder()
                self.images_seen += lightness.shape[0] * context.world_size
                detached = loss.detach().double()
                loss_total += detached
                log_total += detached
                log_count += 1
                logged: float | None = None
                if self.step % log_every == 0 or self.step_in_epoch == self.steps_per_epoch:
                    distributed.all_reduce_sum(log_total, context)
                    logged = float(log_total) / (log_count * context.world_size)
                    if not math.isfinite(logged):
                        raise self._nan_error(f"the loss is {logged}")
                    log_total.zero_()
                    log_count = 0
                speed = speedometer.update(lightness.shape[0] * context.world_size)
                self.observer.on_step(
                    StepUpdate(
                        epoch=self.epoch + 1,
                        epochs=config.epochs,
                        step=self.step,
                        total_steps=self.total_steps,
                        step_in_epoch=self.step_in_epoch,
                        steps_per_epoch=self.steps_per_epoch,
                        lr=lr,
                        images_per_second=speed,
                        eta_seconds=self._eta(speed / images_per_step if speed else 0.0),
                        loss=logged,
                    )
                )
                if (
                    config.save_every
                    and self.step % config.save_every == 0
                    and self.step_in_epoch < self.steps_per_epoch
                ):
                    self._fold_loss(loss_total)
                    self._save_last()
            self._fold_loss(loss_total)
            self.epoch += 1
            self.step_in_epoch = 0
            self._validate(complete=True, seconds=time.monotonic() - epoch_start)
            if self.epoch >= config.epochs:
                break
            reason = self._stop_reason(synced=True)
            if reason is not None:
                return reason  # run() writes last.pt
            self._save_last()
        return STOP_FINISHED

    def _simulated_guidance(self, ab: Tensor) -> tuple[Tensor, ...]:
        """Guided models: hints and a reference simulated from the true ``ab`` (CPU, seeded
        by the step, so a resumed run draws the same); others: nothing."""
        if not self.model.accepts_hints:
            return ()
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.step)
        if self.config.hints_only:
            # a frozen base learns nothing from an image with no guidance (its branch
            # is gated off), so every image gets hints, a reference or both
            hints = simulate_training_hints(ab, generator, no_hint_fraction=HINTS_ONLY_NO_HINT)
            unhinted = hints[:, 2].flatten(1).amax(dim=1) == 0
            reference = simulate_training_reference(ab, generator, force=unhinted)
        else:
            hints = simulate_training_hints(ab, generator)
            reference = simulate_training_reference(ab, generator)
        pin = self.device.type == "cuda"
        return (
            hints.to(self.device, non_blocking=pin),
            reference.to(self.device, non_blocking=pin),
        )

    def _fold_loss(self, loss_total: Tensor) -> None:
        """Move the device-side epoch loss sum into the Python counters (one sync)."""
        self.epoch_loss_sum += float(loss_total)
        self.epoch_loss_count = self.step_in_epoch
        loss_total.zero_()

    def _eta(self, steps_per_second: float) -> float | None:
        target = self.total_steps
        if self.config.max_steps is not None:
            target = min(target, self.config.max_steps)
        remaining = None
        if steps_per_second > 0:
            remaining = max(0, target - self.step) / steps_per_second
        if self.config.max_minutes is not None:
            budget = self.config.max_minutes * 60.0 - (time.monotonic() - self.session_start)
            remaining = budget if remaining is None else min(remaining, budget)
        return remaining

    def _export(self, stopped: str) -> Path:
        """Write the slim inference checkpoint of the best (else last) weights."""
        config = self.config
        assert config.export is not None
        path = Path(config.export)
        source = self.folder.best if self.folder.best.is_file() else self.folder.last
        state = read_training_state(source)
        model = model_from_checkpoint(state["model"], source=str(source))
        summary = self._summary(stopped)
        summary["weights_from"] = f"{source.name} (step {state['step']})"
        save_checkpoint(
            path,
            checkpoint_from_model(
                model,
                training=summary,
                metrics=dict(state["model"].get("metrics", {})),
                half=config.export_half,
            ),
        )
        self.observer.on_note(f"exported {source.name} weights to {path}")
        return path
