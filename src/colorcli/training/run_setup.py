"""What a run builds before its first step: seeds, data, model, optimizer, sampler, val cache."""

from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from colorcli.checkpoint import model_from_checkpoint
from colorcli.data import ColorDataset, DatasetBundle, open_dataset
from colorcli.device import describe_device
from colorcli.errors import TrainingError, UsageError
from colorcli.models import ColorModel
from colorcli.training.config import TrainConfig
from colorcli.training.distributed import DistributedContext
from colorcli.training.loaders import EpochSampler, load_val_batches, steps_per_epoch
from colorcli.training.model_setup import apply_hints_only, build_model
from colorcli.training.run_folder import RunFolder
from colorcli.training.seeding import seed_everything
from colorcli.training.state import Progress, restore_progress
from colorcli.training.step import Compute, build_optimizer


@dataclass
class RunParts:
    """The pieces of a set-up run.

    Attributes:
        model: the colouriser being trained (on the device, train mode).
        forward_model: ``model``, or its DDP wrapper under ``torchrun``.
        optimizer: AdamW or Adam over the model's parameter groups.
        scaler: the fp16 gradient scaler (disabled otherwise).
        train_dataset: the training split.
        sampler: this rank's resumable, epoch-seeded sampler.
        steps_per_epoch: optimizer steps in one epoch.
        total_steps: optimizer steps in all epochs.
        val_batches: this rank's cached val batches.
        val_images: images in the val split.
        device_name: the device (and CPU model) for the summary.
        data_info: the data set summary (counts, skipped files, …).
        data_description: the same in words.
        parameters: the model's parameter count.
    """

    model: ColorModel
    forward_model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train_dataset: ColorDataset
    sampler: EpochSampler
    steps_per_epoch: int
    total_steps: int
    val_batches: list[dict[str, Tensor]]
    val_images: int
    device_name: str
    data_info: dict[str, Any]
    data_description: str
    parameters: int


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


def _open_data(config: TrainConfig) -> DatasetBundle:
    return open_dataset(
        config.data,
        size=config.size,
        val_split=config.val_split,
        seed=config.seed,
        classes=config.classes,
        augment=config.augment,
        limit=config.limit,
    )


def prepare_run(
    config: TrainConfig,
    folder: RunFolder,
    context: DistributedContext,
    compute: Compute,
    resume: tuple[dict[str, Any] | None, str | None],
) -> tuple[RunParts, Progress, list[str]]:
    """Seed, open the data, build or restore the model and optimizer, cache the val batches.

    ``resume`` is ``(training state, its path)`` of the run being continued, or ``(None,
    None)`` for a new run.

    The order is part of the contract: a resumed run restores the RNG at the same point of
    set-up as the original run reached it, so that both draw the same numbers afterwards.

    Returns:
        ``(parts, progress, notes)``: the pieces, the (restored) counters and notes for people.

    Raises:
        UsageError: ``folder`` already holds a run and this is not a resume.
        TrainingError: an empty training split, or a checkpoint that does not fit the data.
    """
    device = compute.device
    resume_state, resume_path = resume
    if resume_state is None and context.is_main and folder.has_run():
        raise UsageError(
            f"{folder.path} already holds a run (last.pt); pass --resume to continue "
            "it or choose another --out"
        )
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed, deterministic=config.deterministic)
    if device.type == "cuda" and not config.deterministic:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    device_name = _hardware(device)
    bundle = _open_data(config)
    data_info = bundle.info.as_dict()
    if len(bundle.train) == 0:
        raise TrainingError(f"{config.data}: the training split is empty")
    notes: list[str] = []
    if resume_state is not None:
        model = model_from_checkpoint(resume_state["model"], source=str(resume_path))
        if config.hints_only:
            apply_hints_only(model, config)
    else:
        model, notes = build_model(config, bundle.train, context=context, device=device)
    model.train()
    model = model.to(device)
    if compute.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = build_optimizer(model, config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=compute.amp_dtype == torch.float16)
    sampler = EpochSampler(len(bundle.train), seed=config.seed, context=context)
    epoch_steps = steps_per_epoch(sampler, config.batch_size)
    progress = Progress(best_metric=config.best_metric)
    if resume_state is not None:
        progress = restore_progress(
            resume_state,
            optimizer=optimizer,
            scaler=scaler,
            source=resume_path,
            best_metric=progress.best_metric,
        )
        if progress.step_in_epoch >= epoch_steps:
            raise TrainingError(
                f"{resume_path}: step {progress.step_in_epoch} of the epoch is past its "
                f"{epoch_steps} steps; was the data set changed?"
            )
    forward_model: nn.Module = model
    if context.enabled:
        forward_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    val_batches = load_val_batches(
        bundle.val,
        limit=config.val_limit,
        batch_size=config.batch_size,
        workers=config.workers,
        context=context,
        seed=config.seed,
    )
    if not val_batches:
        notes.append("no validation images: best.pt follows the training loss")
    if resume_state is not None and progress.epoch >= config.epochs:
        notes.append(
            f"the run has already done its {config.epochs} epoch(s); raise --epochs to train longer"
        )
    parts = RunParts(
        model=model,
        forward_model=forward_model,
        optimizer=optimizer,
        scaler=scaler,
        train_dataset=bundle.train,
        sampler=sampler,
        steps_per_epoch=epoch_steps,
        total_steps=config.epochs * epoch_steps,
        val_batches=val_batches,
        val_images=len(bundle.val),
        device_name=device_name,
        data_info=data_info,
        data_description=bundle.info.describe(),
        parameters=model.num_parameters(),
    )
    return parts, progress, notes
