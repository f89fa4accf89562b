"""Maintainers: choose a checkpoint's inference size (and annealed-mean T) on training photos.

Usage:
    uv run python scripts/tune_inference.py runs/vivid/best.pt \
        --data ../shared/datasets/photos/train --every 50 --sizes 96 128 160 \
        --temperatures 0.2 0.3 0.38

Scores every combination with ``colorcli.evaluation.evaluate`` (protocol crop256, the same
as the published figures) on every ``--every``-th photo of ``--data`` in sorted order, so
the choice is made on training photos and the validation set stays untouched for the
figures that get published. Prints one row per setting against the gray baseline.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from tuning import METRICS, every_nth_photo, print_rows  # scripts/tuning.py

from colorcli.checkpoint import load_model
from colorcli.evaluation import evaluate
from colorcli.models.heads import ClassificationHead
from colorcli.pipeline import Colorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="checkpoint path or published name")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--every", type=int, default=50, help="take every N-th photo")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--temperatures", type=float, nargs="*", default=[])
    parser.add_argument("--saturations", type=float, nargs="+", default=[1.0])
    args = parser.parse_args()

    data = every_nth_photo(args.data, args.every)
    model = load_model(args.model)
    variants = {}
    for temperature in args.temperatures or [None]:
        variant = copy.deepcopy(model)
        if temperature is not None:
            if not isinstance(variant.head, ClassificationHead):
                parser.error("--temperatures needs a classification head")
            variant.head.temperature = temperature
        for size in args.sizes:
            for saturation in args.saturations:
                name = f"T={temperature} size={size} sat={saturation}"
                variants[name] = Colorizer(variant, size=size, saturation=saturation)
    report = evaluate(variants, data, metrics=METRICS)
    print_rows(report, data, args.every, width=32)


if __name__ == "__main__":
    main()
