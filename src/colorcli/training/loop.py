"""The training loop: from a TrainConfig to trained, checkpointed weights; stops cleanly.

This is the front door (:func:`train`, :class:`TrainResult`, :func:`load_resume`); the
parts live next door:

- :mod:`~colorcli.training.trainer`: one run, the epoch loop and what happens on a stop;
- :mod:`~colorcli.training.run_setup`: seeds, data, model, optimizer, sampler, val cache;
- :mod:`~colorcli.training.step`: one optimizer step (AMP, clipping, simulated guidance);
- :mod:`~colorcli.training.records`: validation, history, metrics, best.pt, pictures;
- :mod:`~colorcli.training.state`: what last.pt/best.pt hold, saved and restored exactly;
- :mod:`~colorcli.training.stopping`: Ctrl-C, ``--max-minutes`` and ``--max-steps``.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from colorcli.device import resolve_device
from colorcli.training import distributed
from colorcli.training.config import TrainConfig
from colorcli.training.progress import TrainingObserver
from colorcli.training.records import VAL_HINTS
from colorcli.training.state import load_resume, run_hours
from colorcli.training.step import HINTS_ONLY_NO_HINT
from colorcli.training.stopping import STOP_FINISHED, STOP_INTERRUPTED, STOP_STEPS, STOP_TIME
from colorcli.training.trainer import Trainer

__all__ = [
    "HINTS_ONLY_NO_HINT",
    "STOP_FINISHED",
    "STOP_INTERRUPTED",
    "STOP_STEPS",
    "STOP_TIME",
    "VAL_HINTS",
    "TrainResult",
    "load_resume",
    "train",
]


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
    trainer = Trainer(
        config,
        context=context,
        device=device,
        observer=observer if observer is not None and context.is_main else TrainingObserver(),
        command=command if command is not None else shlex.join(sys.argv),
        resume_state=resume_state,
        resume_path=None if resume_path is None else str(resume_path),
    )
    try:
        stopped, export_path = trainer.run()
        progress = trainer.progress
        return TrainResult(
            out_dir=trainer.folder.path,
            last_path=trainer.folder.last,
            best_path=trainer.folder.best if trainer.folder.best.is_file() else None,
            export_path=export_path,
            stopped=stopped,
            epochs_completed=progress.epoch,
            step=progress.step,
            images_seen=progress.images_seen,
            hours=run_hours(progress, trainer.session),
            best_metric=progress.best_metric,
            best_value=progress.best_value,
            last_record=progress.history[-1] if progress.history else None,
            data=trainer.parts.data_info,
        )
    finally:
        trainer.observer.on_end()
        distributed.teardown()
