"""The run folder: where a run's checkpoints, metrics and pictures live, and how they are written.

Layout::

    <out>/last.pt            training checkpoint, every epoch (and every --save-every steps)
    <out>/best.pt            training checkpoint with the best validation metric
    <out>/config.json        the run's TrainConfig, for people
    <out>/metrics.jsonl      one JSON record per validation (per epoch; partial epochs marked)
    <out>/metrics.csv        the same records as CSV
    <out>/loss_curve.png     train and val loss per epoch
    <out>/samples/epoch_003.png   gray / prediction / truth for a fixed set of val images

Training checkpoints wrap a model checkpoint (:func:`colorcli.checkpoint.checkpoint_from_model`)
under ``"model"`` and load with ``torch.load(weights_only=True)``; see :func:`read_training_state`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from colorcli.atomic import atomic_write, remove_stale_partials
from colorcli.checkpoint import load_weights_file, save_checkpoint
from colorcli.errors import CheckpointError, TrainingError

LAST = "last.pt"
BEST = "best.pt"
CSV_COLUMNS = (
    "epoch",
    "step",
    "images_seen",
    "hours",
    "train_loss",
    "val_loss",
    "val_psnr",
    "val_colorfulness",
    "lr",
    "seconds",
    "complete",
    "best",
)
_TRAINING_KEYS = ("model", "optimizer", "epoch", "step", "config")
_TRAINING_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": dict,
    "optimizer": dict,
    "epoch": int,
    "step": int,
    "step_in_epoch": int,
    "config": dict,
    "history": list,
    "rng": dict,
}
"""Types of the fields resuming reads (optional ones are checked when present)."""


class _RunFile:
    """A file of the run folder as a read-only attribute: ``folder.last`` is ``path / LAST``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, folder: RunFolder, owner: type | None = None) -> Path:
        return folder.path / self.name


class RunFolder:
    """Paths and writers of one run folder (only rank 0 should write).

    Args:
        path: the folder (created on first write).
    """

    last = _RunFile(LAST)
    best = _RunFile(BEST)
    metrics_jsonl = _RunFile("metrics.jsonl")
    metrics_csv = _RunFile("metrics.csv")
    loss_curve = _RunFile("loss_curve.png")
    config_json = _RunFile("config.json")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def sample_grid(self, epoch: int) -> Path:
        """``samples/epoch_003.png`` for the 1-based ``epoch``."""
        return self.path / "samples" / f"epoch_{epoch:03d}.png"

    def has_run(self) -> bool:
        """True when the folder already holds a training checkpoint."""
        return self.last.is_file()

    def save(self, path: Path, state: dict[str, Any]) -> None:
        """Write a training checkpoint atomically."""
        save_checkpoint(path, state)

    def remove_stale_partials(self, epochs: int) -> list[Path]:
        """Delete temporary files a killed run left next to this folder's files.

        See :func:`colorcli.atomic.remove_stale_partials`; ``epochs`` bounds the sample grids.
        """
        files = [self.last, self.best, self.metrics_jsonl, self.metrics_csv, self.loss_curve]
        files += [self.config_json, *(self.sample_grid(epoch) for epoch in range(1, epochs + 1))]
        return remove_stale_partials(files)

    def write_config(self, config: dict[str, Any]) -> None:
        _write_text(self.config_json, json.dumps(config, indent=2, sort_keys=True) + "\n")

    def write_metrics(self, records: Sequence[dict[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl`` and ``metrics.csv`` from all records (the checkpoint's)."""
        lines = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
        _write_text(self.metrics_jsonl, lines)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({key: _csv_value(record.get(key)) for key in CSV_COLUMNS})
        _write_text(self.metrics_csv, buffer.getvalue())


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _write_text(path: Path, text: str) -> None:
    try:
        atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
    except OSError as error:
        raise TrainingError(f"{path}: cannot write: {error.strerror or error}") from None


def resolve_resume_path(resume: str | Path | None, out: str | Path | None) -> Path:
    """The training checkpoint to resume: ``resume`` (a file or run folder) or ``out/last.pt``.

    Raises:
        CheckpointError: nothing to resume there.
    """
    if resume is None:
        if out is None:
            raise CheckpointError("--resume needs the run folder: pass --out DIR or --resume PATH")
        resume = out
    path = Path(resume).expanduser()
    if path.is_dir():
        if not (path / LAST).is_file():
            raise CheckpointError(f"{path}: no {LAST} in this folder to resume")
        return path / LAST
    if not path.is_file():
        raise CheckpointError(f"{path}: no such run folder or checkpoint to resume")
    return path


def read_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint (``last.pt``/``best.pt``) with ``weights_only=True``.

    Raises:
        CheckpointError: unreadable, or an inference-only checkpoint (no optimizer state).
    """
    path = Path(path)
    state = load_weights_file(path)
    if not isinstance(state, dict) or any(key not in state for key in _TRAINING_KEYS):
        raise CheckpointError(
            f"{path}: not a training checkpoint (an exported model cannot be resumed; "
            "use --init-from to start a new run from it)"
        )
    for key, kind in _TRAINING_TYPES.items():
        value = state.get(key)
        if (key in state or key in _TRAINING_KEYS) and (
            not isinstance(value, kind) or isinstance(value, bool)
        ):
            raise CheckpointError(
                f"{path}: corrupt training checkpoint: {key} is {type(value).__name__}"
            )
    return state
