"""One training run from set-up to its last file: the epoch loop and what happens when it stops."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from colorcli.errors import TrainingError
from colorcli.training import distributed
from colorcli.training.config import TrainConfig
from colorcli.training.distributed import DistributedContext
from colorcli.training.loaders import train_loader
from colorcli.training.progress import RunStart, Speedometer, StepUpdate, TrainingObserver
from colorcli.training.records import Validator
from colorcli.training.run_folder import RunFolder
from colorcli.training.run_setup import prepare_run
from colorcli.training.state import (
    CheckpointWriter,
    Session,
    export_weights,
    run_hours,
    run_summary,
    training_state,
)
from colorcli.training.step import Compute, TrainStep, amp_name
from colorcli.training.stopping import STOP_FINISHED, STOP_INTERRUPTED, StopRules


class Trainer:
    """One run: set-up, the epochs, the stop and the final files (see ``train``)."""

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
        self.compute = Compute.for_training(config.amp, device)
        self.observer = observer
        self.resume_state = resume_state
        self.resume_path = resume_path
        self.is_main = context.is_main
        if config.out is None:
            config.out = config.default_out()
        self.folder = RunFolder(config.out)
        self.stops = StopRules(config, context=context, device=device)
        self.checkpoints = CheckpointWriter(self.folder, config, is_main=self.is_main)
        self.session = Session(
            device="", world_size=context.world_size, command=command, resumed_from=resume_path
        )

    def run(self) -> tuple[str, Path | None]:
        """Set up, train until done or stopped, write the final files.

        Returns:
            ``(stopped, export_path)``: why the run stopped and the export, if one was written.
        """
        self._announce(self._setup())
        self.session.start = time.monotonic()
        stopped = self._train_until_stop()
        export_path = None
        if self.config.export is not None and stopped != STOP_INTERRUPTED and self.is_main:
            export_path = self._export(stopped)
        distributed.barrier(self.context)
        return stopped, export_path

    # ------------------------------------------------------------------ setup

    def _setup(self) -> list[str]:
        """Build the run's parts and restore its counters; returns notes for people."""
        resume = (self.resume_state, self.resume_path)
        self.parts, self.progress, notes = prepare_run(
            self.config, self.folder, self.context, self.compute, resume
        )
        parts = self.parts
        if self.resume_state is not None:
            self.checkpoints.saved_step = self.progress.step
        self.session.device = parts.device_name
        self.session.start_step = self.progress.step
        self.steps = TrainStep(self.config, parts, self.compute)
        self.validator = Validator(
            self.config,
            parts,
            checkpoints=self.checkpoints,
            context=self.context,
            compute=self.compute,
        )
        return notes

    def _announce(self, notes: list[str]) -> None:
        config, parts = self.config, self.parts
        self.observer.on_start(
            RunStart(
                out_dir=str(self.folder.path),
                device=parts.device_name,
                arch=config.arch,
                head=config.head_name(),
                parameters=parts.parameters,
                data=parts.data_description,
                train_images=len(parts.train_dataset),
                val_images=parts.val_images,
                epochs=config.epochs,
                steps_per_epoch=parts.steps_per_epoch,
                total_steps=parts.total_steps,
                start_step=self.progress.step,
                start_epoch=self.progress.epoch,
                batch_size=config.batch_size,
                world_size=self.context.world_size,
                amp=amp_name(self.compute.amp_dtype),
                resumed_from=self.resume_path,
                notes=notes,
            )
        )

    # ------------------------------------------------------------------ the loop

    def _train_until_stop(self) -> str:
        """The epochs, then the last.pt of the stop (after validating a partial epoch)."""
        stopped = STOP_FINISHED
        with self.stops.request.installed():
            try:
                stopped = self._epochs()
            except KeyboardInterrupt:
                if self.steps.updating:
                    raise
                stopped = STOP_INTERRUPTED
            if stopped == STOP_INTERRUPTED:
                self._save_last(stopped)
                self.observer.on_note(
                    f"interrupted: saved {self.folder.last} at step {self.progress.step}; "
                    f"continue with colorcli train --resume {self.folder.path}"
                )
            elif stopped != STOP_FINISHED:
                if self.progress.step_in_epoch > 0:
                    self._validate(complete=False, seconds=0.0)
                self._save_last(stopped)
                self.observer.on_note(
                    f"stopped ({stopped}) at step {self.progress.step}; saved {self.folder.last}; "
                    f"continue with colorcli train --resume {self.folder.path}"
                )
            else:
                self._save_last(stopped)
        return stopped

    def _epochs(self) -> str:
        """Train until the last epoch or a stop request; returns why it stopped."""
        config, parts, progress = self.config, self.parts, self.progress
        world_size, device = self.context.world_size, self.compute.device
        pin = device.type == "cuda"
        check_every_step = device.type == "cpu" and not self.context.enabled
        log_every = config.log_every
        images_per_step = config.batch_size * world_size
        speedometer = Speedometer()
        while progress.epoch < config.epochs:
            epoch_start = time.monotonic()
            speedometer.pause()  # data loader start-up and validation are not training speed
            parts.train_dataset.set_epoch(progress.epoch)
            parts.sampler.set_epoch(progress.epoch, skip=progress.step_in_epoch * config.batch_size)
            if progress.step_in_epoch == 0:
                progress.epoch_loss_sum, progress.epoch_loss_count = 0.0, 0
            loss_total = torch.zeros((), dtype=torch.float64, device=device)
            log_total = torch.zeros((), dtype=torch.float64, device=device)
            log_count = 0
            loader = train_loader(
                parts.train_dataset, parts.sampler, config, epoch=progress.epoch, pin_memory=pin
            )
            for batch in loader:
                if progress.step_in_epoch >= parts.steps_per_epoch:
                    break
                reason = self._stop_reason(synced=progress.step % log_every == 0)
                if reason is not None:
                    progress.fold_loss(loss_total)
                    return reason
                loss, images, lr = self.steps.forward(batch, progress.step)
                if check_every_step and not bool(torch.isfinite(loss)):
                    raise self._nan_error(f"the loss is {float(loss.detach())}")
                self.steps.update(loss)
                progress.step += 1
                progress.step_in_epoch += 1
                self.checkpoints.open_folder()
                progress.images_seen += images * world_size
                detached = loss.detach().double()
                loss_total += detached
                log_total += detached
                log_count += 1
                logged: float | None = None
                if (
                    progress.step % log_every == 0
                    or progress.step_in_epoch == parts.steps_per_epoch
                ):
                    distributed.all_reduce_sum(log_total, self.context)
                    logged = float(log_total) / (log_count * world_size)
                    if not math.isfinite(logged):
                        raise self._nan_error(f"the loss is {logged}")
                    log_total.zero_()
                    log_count = 0
                speed = speedometer.update(images * world_size)
                self.observer.on_step(
                    StepUpdate(
                        epoch=progress.epoch + 1,
                        epochs=config.epochs,
                        step=progress.step,
                        total_steps=parts.total_steps,
                        step_in_epoch=progress.step_in_epoch,
                        steps_per_epoch=parts.steps_per_epoch,
                        lr=lr,
                        images_per_second=speed,
                        eta_seconds=self._eta(speed / images_per_step if speed else 0.0),
                        loss=logged,
                    )
                )
                if (
                    config.save_every
                    and progress.step % config.save_every == 0
                    and progress.step_in_epoch < parts.steps_per_epoch
                ):
                    progress.fold_loss(loss_total)
                    self._save_last()
            progress.fold_loss(loss_total)
            progress.epoch += 1
            progress.step_in_epoch = 0
            self._validate(complete=True, seconds=time.monotonic() - epoch_start)
            if progress.epoch >= config.epochs:
                break
            reason = self._stop_reason(synced=True)
            if reason is not None:
                return reason  # run() writes last.pt
            self._save_last()
        return STOP_FINISHED

    def _stop_reason(self, synced: bool) -> str | None:
        return self.stops.reason(
            step=self.progress.step, elapsed=self.session.seconds(), synced=synced
        )

    def _eta(self, steps_per_second: float) -> float | None:
        return self.stops.eta(
            step=self.progress.step,
            total_steps=self.parts.total_steps,
            steps_per_second=steps_per_second,
            elapsed=self.session.seconds(),
        )

    # ------------------------------------------------------------------ records and files

    def _validate(self, *, complete: bool, seconds: float) -> dict[str, Any]:
        """Validate and record (see :meth:`Validator.validate`), then tell the observer."""
        progress = self.progress
        record = self.validator.validate(
            progress,
            complete=complete,
            steps_per_epoch=self.parts.steps_per_epoch,
            seconds=seconds,
            hours=lambda: run_hours(progress, self.session),
            lr=self.steps.lr(max(0, progress.step - 1)),
            failed_reads=self.parts.train_dataset.runtime_failures,
            state=self._state,
        )
        self.observer.on_epoch(record)
        return record

    def _summary(self, stopped: str | None = None) -> dict[str, Any]:
        return run_summary(
            self.config, self.progress, self.session, data=self.parts.data_info, stopped=stopped
        )

    def _state(self, stopped: str | None = None) -> dict[str, Any]:
        parts = self.parts
        return training_state(
            self.config,
            self.progress,
            model=parts.model,
            optimizer=parts.optimizer,
            scaler=parts.scaler,
            total_steps=parts.total_steps,
            summary=self._summary(stopped),
        )

    def _nan_error(self, what: str) -> TrainingError:
        return self.checkpoints.nan_error(what, self.progress)

    def _save_last(self, stopped: str | None = None) -> None:
        """Write last.pt (rank 0), never with non-finite weights."""
        self.checkpoints.save_last(self.parts.model, self.progress, lambda: self._state(stopped))

    def _export(self, stopped: str) -> Path:
        """Write the slim inference checkpoint of the best (else last) weights."""
        assert self.config.export is not None
        path, source = export_weights(
            self.folder,
            Path(self.config.export),
            summary=self._summary(stopped),
            half=self.config.export_half,
            source=self.config.export_from,
        )
        self.observer.on_note(f"exported {source} weights to {path}")
        return path
