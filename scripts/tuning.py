"""What the tuning scripts share: a thinned set of photos and the printed comparison."""

from __future__ import annotations

from pathlib import Path

from colorcli.evaluation import EvalData, EvalReport, find_eval_images

METRICS = ("psnr", "deltae", "colorfulness")
"""What every variant is scored on."""


def every_nth_photo(folder: Path, every: int) -> EvalData:
    """The colour photos under ``folder``, every ``every``-th in sorted order."""
    found = find_eval_images(folder)
    return EvalData(found.root, found.files[::every], found.builtin)


def print_rows(report: EvalReport, data: EvalData, every: int, width: int) -> None:
    """One line per variant with its mean of each metric, after a header line."""
    print(f"{report.scored} photos of {data.root} (every {every}th)")
    original = report.original_colorfulness()
    if original is not None:
        print(f"originals' colourfulness {original.value:.2f}")
    for row in report.rows:
        cells = "  ".join(f"{m} {report.summary(row, m).value:7.3f}" for m in METRICS)
        print(f"{row:{width}s} {cells}")
