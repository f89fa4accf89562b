"""What a training run tells the outside world: events, a silent observer, and a console renderer.

The loop never prints: it calls a :class:`TrainingObserver`. The CLI passes a
:class:`ConsoleProgress`, which draws a rich live bar on a terminal and prints plain
periodic lines otherwise (CI logs).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


@dataclass
class RunStart:
    """Facts about a run, sent once before the first step."""

    out_dir: str
    device: str
    arch: str
    head: str
    parameters: int
    data: str
    train_images: int
    val_images: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    start_step: int
    start_epoch: int
    batch_size: int
    world_size: int = 1
    amp: str = "off"
    resumed_from: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class StepUpdate:
    """Progress after an optimizer step (``loss`` only on logged steps, where it was synced)."""

    epoch: int
    epochs: int
    step: int
    total_steps: int
    step_in_epoch: int
    steps_per_epoch: int
    lr: float
    images_per_second: float
    eta_seconds: float | None
    loss: float | None = None


class Speedometer:
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


class TrainingObserver:
    """Receives a run's events; every method is a no-op here (override what you need)."""

    def on_start(self, start: RunStart) -> None:
        """Before the first step."""

    def on_step(self, update: StepUpdate) -> None:
        """After every optimizer step (keep it cheap)."""

    def on_epoch(self, record: dict[str, Any]) -> None:
        """After each validation (end of an epoch, or a partial one when the run stops)."""

    def on_note(self, message: str) -> None:
        """A one-line remark (checkpoint written, stop requested, …)."""

    def on_end(self) -> None:
        """The loop is over (also after errors)."""


def format_duration(seconds: float | None) -> str:
    """``1:02:03`` or ``2:03``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = round(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_record(record: dict[str, Any]) -> str:
    """One line summarising a validation record."""
    parts = [
        f"train loss {record['train_loss']:.4f}" if record.get("train_loss") is not None else ""
    ]
    if record.get("val_loss") is not None:
        parts.append(f"val loss {record['val_loss']:.4f}")
    if record.get("val_psnr") is not None:
        parts.append(f"PSNR {record['val_psnr']:.2f} dB")
    if record.get("val_colorfulness") is not None:
        parts.append(f"colourfulness {record['val_colorfulness']:.1f}")
    if record.get("complete", True):
        where = f"epoch {record['epoch']:g}"
    else:
        where = f"epoch {record['epoch']:.2f} (partial)"
    text = f"{where}: " + ", ".join(part for part in parts if part)
    return text + (" [best]" if record.get("best") else "")


class ConsoleProgress(TrainingObserver):
    """Reports on a rich console: a live bar on terminals, periodic plain lines otherwise.

    Args:
        console: where to write (the CLI's stderr console).
        live: force the live bar on or off (default: when ``console`` is a terminal).
        plain_interval: seconds between plain progress lines (they also follow logged steps).
    """

    def __init__(
        self, console: Console, *, live: bool | None = None, plain_interval: float = 30.0
    ) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.plain_interval = plain_interval
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_plain = 0.0
        self._last_loss: float | None = None

    def on_start(self, start: RunStart) -> None:
        head = f"{start.arch} ({start.head}, {start.parameters:,} parameters)"
        where = f"{start.device}" + (f" × {start.world_size}" if start.world_size > 1 else "")
        self.console.print(
            f"model: {head} on {where}, AMP {start.amp}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        self.console.print(f"data: {start.data}", highlight=False, markup=False, soft_wrap=True)
        self.console.print(
            f"plan: {start.epochs} epoch(s) × {start.steps_per_epoch} step(s) of "
            f"{start.batch_size} image(s) = {start.total_steps} steps; run folder {start.out_dir}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        if start.resumed_from:
            self.console.print(
                f"resuming {start.resumed_from} at epoch {start.start_epoch + 1}, "
                f"step {start.start_step}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        for note in start.notes:
            self.console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]} img/s"),
                TimeElapsedColumn(),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train",
                total=start.total_steps,
                completed=start.start_step,
                epoch=f"{start.start_epoch + 1}/{start.epochs}",
                loss="…",
                speed="…",
                eta="?",
            )
        self._last_plain = time.monotonic()

    def on_step(self, update: StepUpdate) -> None:
        if update.loss is not None:
            self._last_loss = update.loss
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                completed=update.step,
                epoch=f"{update.epoch}/{update.epochs}",
                loss="…" if self._last_loss is None else f"{self._last_loss:.4f}",
                speed=f"{update.images_per_second:.1f}",
                eta=format_duration(update.eta_seconds),
            )
            return
        now = time.monotonic()
        if update.loss is None and now - self._last_plain < self.plain_interval:
            return
        self._last_plain = now
        loss = "" if self._last_loss is None else f" loss {self._last_loss:.4f}"
        self.console.print(
            f"epoch {update.epoch}/{update.epochs} step {update.step}/{update.total_steps}"
            f"{loss} lr {update.lr:.3g} {update.images_per_second:.1f} img/s "
            f"ETA {format_duration(update.eta_seconds)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    def on_epoch(self, record: dict[str, Any]) -> None:
        self.console.print(format_record(record), highlight=False, markup=False, soft_wrap=True)

    def on_note(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False, soft_wrap=True)

    def on_end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
