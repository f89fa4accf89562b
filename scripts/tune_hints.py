"""Maintainers: choose how far hints spread (guidance.HintSpread) on training photos.

Usage:
    uv run python scripts/tune_hints.py runs/lite0-hints/best.pt \
        --data ../shared/datasets/photos/train --every 100 --hints 10 \
        --spaces 0.15 0.25 0.4 --lightness 6 12 25 --priors 0.03 0.1 0.5

Scores the guided model without spreading and with every combination, each photo given
N hints simulated from its truth (``colorcli.evaluation.evaluate``, protocol crop256, the
published one), on every ``--every``-th photo of ``--data``: the choice is made on
training photos and the validation set stays untouched.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from tuning import METRICS, every_nth_photo, print_rows  # scripts/tuning.py

from colorcli.checkpoint import load_model
from colorcli.evaluation import evaluate
from colorcli.guidance import HintSpread
from colorcli.pipeline import Colorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="checkpoint path or published name of a guided model")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--every", type=int, default=100, help="take every N-th photo")
    parser.add_argument("--hints", type=int, nargs="+", default=[10])
    shipped = HintSpread()
    parser.add_argument("--spaces", type=float, nargs="+", default=[shipped.space])
    parser.add_argument("--lightness", type=float, nargs="+", default=[shipped.lightness])
    parser.add_argument("--priors", type=float, nargs="+", default=[shipped.prior])
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--saturation", type=float, default=None)
    args = parser.parse_args()

    data = every_nth_photo(args.data, args.every)
    model = load_model(args.model)
    options = {"temperature": args.temperature, "saturation": args.saturation}
    variants = {"no spread": Colorizer(model, spread_hints=None, **options)}
    for space, lightness, prior in itertools.product(args.spaces, args.lightness, args.priors):
        spread = HintSpread(space=space, lightness=lightness, prior=prior)
        name = f"space={space} L={lightness} prior={prior}"
        variants[name] = Colorizer(model, spread_hints=spread, **options)
    report = evaluate(variants, data, metrics=METRICS, hints=args.hints)
    print_rows(report, data, args.every, width=44)


if __name__ == "__main__":
    main()
