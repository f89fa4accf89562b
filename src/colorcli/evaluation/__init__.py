"""Score colourizers on colour photographs: each photo's L in, colour out, compared with the photo.

The parts, in the order an evaluation uses them:

* :mod:`~colorcli.evaluation.protocol`: how photos are cut (``crop256``, ``full``), the
  reference rows (the gray baseline, the originals) and the default metrics.
* :mod:`~colorcli.evaluation.discovery`: the image files of a folder, or the built-in set.
* :mod:`~colorcli.evaluation.loop`: :func:`evaluate`, which reads, colourizes and scores.
* :mod:`~colorcli.evaluation.report`: what was measured, as JSON-able summaries and a CSV.
* :mod:`~colorcli.evaluation.grids`: ``gray | model… | original`` comparison pictures.
"""

from __future__ import annotations

from colorcli.evaluation.discovery import EvalData, builtin_eval_dir, find_eval_images
from colorcli.evaluation.grids import SAMPLE_LABEL_HEIGHT, SAMPLE_TILE_MAX, sample_grid
from colorcli.evaluation.loop import BATCH_PIXEL_BUDGET, evaluate
from colorcli.evaluation.protocol import (
    BASELINE_NAME,
    DEFAULT_BATCH_SIZE,
    DEFAULT_METRICS,
    DEFAULT_PROTOCOL,
    REFERENCE_NAME,
    EvalProtocol,
    centre_square_crop,
    gray_baseline,
    parse_protocol,
)
from colorcli.evaluation.report import (
    EvalReport,
    ImageEvent,
    ImageScores,
    MetricSummary,
    write_per_image_csv,
)

__all__ = [
    "BASELINE_NAME",
    "BATCH_PIXEL_BUDGET",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_METRICS",
    "DEFAULT_PROTOCOL",
    "REFERENCE_NAME",
    "SAMPLE_LABEL_HEIGHT",
    "SAMPLE_TILE_MAX",
    "EvalData",
    "EvalProtocol",
    "EvalReport",
    "ImageEvent",
    "ImageScores",
    "MetricSummary",
    "builtin_eval_dir",
    "centre_square_crop",
    "evaluate",
    "find_eval_images",
    "gray_baseline",
    "parse_protocol",
    "sample_grid",
    "write_per_image_csv",
]
