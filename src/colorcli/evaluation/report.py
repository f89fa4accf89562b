"""Results of an evaluation: per-image scores, set summaries, the JSON report and the CSV."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from colorcli import __version__
from colorcli.errors import DataError
from colorcli.evaluation.discovery import EvalData
from colorcli.evaluation.protocol import BASELINE_NAME, COLORFULNESS_METRICS, EvalProtocol
from colorcli.metrics import METRICS, mean_and_ci95

__all__ = ["EvalReport", "ImageEvent", "ImageScores", "MetricSummary", "write_per_image_csv"]


@dataclass(frozen=True)
class MetricSummary:
    """A metric over a set: ``value`` with its 95% interval ``[low, high]`` over ``n`` images.

    ``value`` is the mean of the per-image values, except for a set-level metric
    (``delta_cf``) where it is the metric's own summary (``|mean CF difference|``).
    """

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """``{"mean", "ci95_low", "ci95_high", "n"}``; a non-finite number becomes ``None``."""
        return {
            "mean": _finite_or_none(self.value),
            "ci95_low": _finite_or_none(self.low),
            "ci95_high": _finite_or_none(self.high),
            "n": self.n,
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None  # keeps the JSON strict (no NaN tokens)


@dataclass
class ImageScores:
    """Per-image values of one evaluated image.

    Attributes:
        image: name relative to the data root.
        shape: ``(height, width)`` of the evaluated image (after the protocol).
        scores: ``{row name: {metric: value}}``, gray baseline first; ``delta_cf`` holds the
            signed CF(pred) − CF(target).
        original_colorfulness: CF of the evaluated original, when a colourfulness metric is on.
    """

    image: str
    shape: tuple[int, int]
    scores: dict[str, dict[str, float]]
    original_colorfulness: float | None = None


@dataclass(frozen=True)
class ImageEvent:
    """What happened to one file: ``scored``, ``skipped`` (already gray) or ``failed``."""

    image: str
    status: Literal["scored", "skipped", "failed"]
    reason: str = ""


@dataclass
class EvalReport:
    """Everything one evaluation measured.

    Attributes:
        protocol: how images were cut.
        data: the image set.
        metrics: metric names, in table order.
        rows: row names, :data:`BASELINE_NAME` first, then the models in the order given.
        models: per model row: inference settings (arch, size, saturation, device, half).
        images: per-image values of every scored image, in file order.
        skipped_gray: images skipped because they have no colour.
        failed: ``(image, reason)`` for every file that could not be scored.
        examined: files looked at (fewer than ``data.files`` with a limit).
        seconds: wall time.
    """

    protocol: EvalProtocol
    data: EvalData
    metrics: tuple[str, ...]
    rows: list[str]
    models: dict[str, dict[str, Any]]
    images: list[ImageScores] = field(default_factory=list)
    skipped_gray: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    examined: int = 0
    seconds: float = 0.0
    confidence: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Per model row with a confidence map: per image, the mean ab error (Lab units) of
    its least and of its most confident quarter of pixels."""

    @property
    def scored(self) -> int:
        """Number of images that were scored."""
        return len(self.images)

    def values(self, row: str, metric: str) -> list[float]:
        """Per-image values of ``metric`` for ``row``, in file order."""
        return [image.scores[row][metric] for image in self.images]

    def summary(self, row: str, metric: str) -> MetricSummary:
        """``metric`` of ``row`` over the scored images.

        Raises:
            DataError: no image was scored.
        """
        values = self.values(row, metric)
        if not values:
            raise DataError("no image was scored, so there is nothing to summarise")
        value, low, high = METRICS[metric].summarize(values)
        return MetricSummary(value, low, high, len(values))

    def confidence_summary(self, row: str) -> dict[str, float]:
        """Mean ab error of the least / most confident quarter of pixels over the images."""
        pairs = self.confidence.get(row, [])
        if not pairs:
            return {}
        low = float(np.mean([pair[0] for pair in pairs]))
        high = float(np.mean([pair[1] for pair in pairs]))
        return {
            "error_least_confident_quarter": round(low, 3),
            "error_most_confident_quarter": round(high, 3),
            "ratio": round(low / high, 3) if high > 0 else float("nan"),
        }

    def original_colorfulness(self) -> MetricSummary | None:
        """Mean colourfulness of the originals (the reference of ``colorfulness``), if measured."""
        values = [
            i.original_colorfulness for i in self.images if i.original_colorfulness is not None
        ]
        if not values or not COLORFULNESS_METRICS & set(self.metrics):
            return None
        value, low, high = mean_and_ci95(values)
        return MetricSummary(value, low, high, len(values))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the schema is documented in ``docs/evaluation.md``)."""
        original = self.original_colorfulness()
        return {
            "colorcli_version": __version__,
            "protocol": self.protocol.to_dict(),
            "data": {
                "root": str(self.data.root),
                "builtin": self.data.builtin,
                "files": len(self.data.files),
            },
            "counts": {
                "files": len(self.data.files),
                "examined": self.examined,
                "scored": self.scored,
                "skipped_gray": len(self.skipped_gray),
                "failed": len(self.failed),
            },
            "metrics": {
                name: {
                    "higher_is_better": METRICS[name].higher_is_better,
                    "level": METRICS[name].level,
                    "description": METRICS[name].description,
                }
                for name in self.metrics
            },
            "models": [
                {
                    "name": row,
                    "kind": "baseline" if row == BASELINE_NAME else "model",
                    **self.models.get(row, {}),
                    "results": (
                        {metric: self.summary(row, metric).to_dict() for metric in self.metrics}
                        if self.scored
                        else {}
                    ),
                }
                for row in self.rows
            ],
            "original": ({"colorfulness": original.to_dict()} if original is not None else None),
            "confidence": {
                row: self.confidence_summary(row) for row in self.confidence if self.confidence[row]
            },
            "skipped_gray": list(self.skipped_gray),
            "failed": [{"image": image, "reason": reason} for image, reason in self.failed],
            "seconds": round(self.seconds, 3),
        }


def write_per_image_csv(report: EvalReport, path: str | Path) -> None:
    """One row per image × row (gray baseline included): ``image, model, <metric>...``.

    The ``delta_cf`` column holds the signed per-image CF(pred) − CF(target); the set's ΔCF
    is the absolute value of its mean.

    Raises:
        DataError: the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["image", "model", *report.metrics])
            for image in report.images:
                for row in report.rows:
                    values = image.scores[row]
                    writer.writerow([image.image, row, *(repr(values[m]) for m in report.metrics)])
    except OSError as error:
        raise DataError(
            f"{path}: cannot write the per-image CSV: {error.strerror or error}"
        ) from None
