"""Validation and its records: the history, metrics.json, best.pt selection and the pictures."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import torch
from torch import Tensor

from colorcli.training import distributed
from colorcli.training.config import TrainConfig
from colorcli.training.distributed import DistributedContext
from colorcli.training.plots import loss_curve_image, sample_grid_image, save_image
from colorcli.training.run_setup import RunParts
from colorcli.training.state import CheckpointWriter, Progress
from colorcli.training.step import Compute
from colorcli.training.validation import predict_samples, validation_sums

VAL_HINTS = 10
"""Guided models are validated (and best.pt chosen) with this many simulated hints."""


def is_better(value: float | None, best: float | None, metric: str) -> bool:
    """Whether ``value`` of ``metric`` beats ``best`` (higher PSNR, lower losses)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if metric == "val_psnr" else value < best


class Validator:
    """Validates on the cached val batches and keeps the run's records up to date.

    Args:
        config: the run's settings (``samples`` pictures per grid, arch and head for titles).
        parts: the model being trained (switched to eval and back) and this rank's cached val
            batches.
        checkpoints: writes best.pt and opens the run folder.
        context, compute: how the model runs.
    """

    def __init__(
        self,
        config: TrainConfig,
        parts: RunParts,
        *,
        checkpoints: CheckpointWriter,
        context: DistributedContext,
        compute: Compute,
    ) -> None:
        val_batches = parts.val_batches
        self.config = config
        self.model = parts.model
        self.val_batches = val_batches
        self.checkpoints = checkpoints
        self.folder = checkpoints.folder
        self.context = context
        self.compute = compute
        self.grid_lightness: Tensor | None = None
        self.grid_ab: Tensor | None = None
        if context.is_main and val_batches and config.samples > 0:
            self.grid_lightness = torch.cat([b["lightness"] for b in val_batches])[: config.samples]
            self.grid_ab = torch.cat([b["ab"] for b in val_batches])[: config.samples]

    def validate(
        self,
        progress: Progress,
        *,
        complete: bool,
        steps_per_epoch: int,
        seconds: float,
        hours: Callable[[], float],
        lr: float,
        failed_reads: int,
        state: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Validate, record, save best.pt if better, write metrics and pictures (rank 0).

        Args:
            progress: the run's counters; gets the record in ``history`` and the best value.
            complete: whether a whole epoch was just done (else the run stops mid-epoch).
            steps_per_epoch: for the epoch position of a partial epoch.
            seconds: how long the epoch took.
            hours: training hours so far, read after validating.
            lr: the learning rate of the last step.
            failed_reads: training images that could not be read so far.
            state: builds the training checkpoint for best.pt.

        Returns:
            The new validation record.

        Raises:
            TrainingError: a NaN/inf training loss or weights.
        """
        model = self.model
        model.eval()
        sums = validation_sums(
            model,
            self.val_batches,
            device=self.compute.device,
            amp_dtype=self.compute.amp_dtype,
            channels_last=self.compute.channels_last,
            hints=VAL_HINTS if model.accepts_hints else 0,
        )
        distributed.all_reduce_sum(sums, self.context)
        train_totals = torch.tensor(
            [progress.epoch_loss_sum, float(progress.epoch_loss_count)],
            dtype=torch.float64,
            device=self.compute.device,
        )
        distributed.all_reduce_sum(train_totals, self.context)
        grid_ab = None
        if self.context.is_main and self.grid_lightness is not None:
            grid_ab = predict_samples(model, self.grid_lightness, device=self.compute.device)
        model.train()
        loss_sum, psnr_sum, cf_sum, count = (float(value) for value in sums.tolist())
        train_sum, train_count = (float(value) for value in train_totals.tolist())
        train_loss = train_sum / train_count if train_count else None
        if train_loss is not None and not math.isfinite(train_loss):
            raise self.checkpoints.nan_error(f"the training loss is {train_loss}", progress)
        partial = 0 if complete else progress.step_in_epoch / steps_per_epoch
        record: dict[str, Any] = {
            "epoch": round(progress.epoch + partial, 4),
            "step": progress.step,
            "images_seen": progress.images_seen,
            "hours": round(hours(), 6),
            "train_loss": train_loss,
            "val_loss": loss_sum / count if count else None,
            "val_psnr": psnr_sum / count if count else None,
            "val_colorfulness": cf_sum / count if count else None,
            "val_images": int(count),
            "lr": lr,
            "seconds": round(seconds, 3),
            "complete": complete,
            "failed_reads": failed_reads,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if count == 0:
            progress.best_metric = "train_loss"
        value = record[progress.best_metric]
        better = is_better(value, progress.best_value, progress.best_metric)
        record["best"] = better
        progress.history.append(record)
        self.checkpoints.open_folder()
        if better:
            progress.best_value = float(value)
            self.checkpoints.save_best(model, progress, state)
        if self.context.is_main:
            self._write(progress.history, grid_ab, epoch=progress.epoch, complete=complete)
        return record

    def _write(
        self,
        history: list[dict[str, Any]],
        grid_ab: Tensor | None,
        *,
        epoch: int,
        complete: bool,
    ) -> None:
        """metrics.jsonl/csv, the loss curve and this validation's sample grid."""
        self.folder.write_metrics(history)
        # whole epochs, plus where a stopped run stands now
        shown = [r for r in history if r["complete"]]
        if not history[-1]["complete"]:
            shown.append(history[-1])
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
            grid_epoch = epoch if complete else epoch + 1
            save_image(
                sample_grid_image(self.grid_lightness, grid_ab, self.grid_ab),
                self.folder.sample_grid(max(1, grid_epoch)),
            )
