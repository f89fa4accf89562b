"""Maintainers: publish a trained checkpoint into weights/ with its manifest entry.

Usage:
    uv run python scripts/publish_checkpoint.py runs/x/export.pt --name unet16-horses \
        --description "..." [--eval results.json] [--default]

The entry's architecture, head, parameter count, training data and command come from
the checkpoint itself; metrics come from a ``colorcli eval --json`` file when given (the
model's row and the gray baseline's), else from the checkpoint's validation metrics.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from colorcli.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from colorcli.hub import publish_checkpoint

REPO = Path(__file__).resolve().parents[1]
DATA_LICENCE = (
    "code and weights MIT; trained on third-party photographs for research/education use "
    "(see ../shared/datasets/PROVENANCE.md)"
)


def _head(config: dict[str, Any]) -> str:
    colors = config.get("colors")
    if colors is None:
        return "regression"
    if colors == "gamut":
        return f"gamut-{config['num_classes']}"
    return f"palette-{colors}"


def _eval_metrics(path: Path, model_label: str | None) -> tuple[dict[str, float], str]:
    """Numbers of this model's row and the gray row, and a sentence saying how they were made."""
    report = json.loads(path.read_text())
    rows = {row["name"]: row for row in report["models"]}
    gray = rows.pop("gray")
    row = rows[model_label] if model_label else next(iter(rows.values()))
    how = (
        f"Metrics: colorcli eval, protocol {report['protocol']['name']}, inference size "
        f"{row['size']}, {report['counts']['scored']} images of {report['data']}."
    )
    metrics: dict[str, float] = {}
    for name, result in row["results"].items():
        metrics[name] = round(result["mean"], 4)
        metrics[f"gray_{name}"] = round(gray["results"][name]["mean"], 4)
    if report.get("original"):
        metrics["original_colorfulness"] = round(report["original"]["colorfulness"]["mean"], 4)
    return metrics, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--eval", type=Path, help="colorcli eval --json output")
    parser.add_argument("--eval-row", help="row name of this model in the eval JSON")
    parser.add_argument("--default", action="store_true", help="make it the default model")
    parser.add_argument("--alias", action="append", default=[])
    parser.add_argument(
        "--inference-size", type=int, help="record the --size this model colours best at"
    )
    parser.add_argument(
        "--temperature",
        type=float,
        help="record the annealed-mean temperature this colour-class model decodes with",
    )
    parser.add_argument(
        "--saturation", type=float, help="record the --saturation this model is published with"
    )
    parser.add_argument(
        "--licence-note",
        default="",
        help="appended to the licence (e.g. the origin and licence of pretrained weights)",
    )
    args = parser.parse_args()

    checkpoint = read_checkpoint(args.checkpoint)
    settings = (args.inference_size, args.temperature, args.saturation)
    tuned = any(value is not None for value in settings)
    if args.saturation is not None:
        checkpoint["inference_saturation"] = args.saturation
    if args.inference_size is not None:
        checkpoint["inference_size"] = args.inference_size
    if args.temperature is not None:
        config = checkpoint["config"]
        if not config.get("colors") or config.get("decode", "annealed") != "annealed":
            parser.error("--temperature needs a colour-class model that decodes by annealed mean")
        config["temperature"] = args.temperature
    if tuned:
        source = args.checkpoint.with_name(f".{args.checkpoint.stem}.tuned.pt")
        save_checkpoint(source, checkpoint)
        args.checkpoint = source
    model = model_from_checkpoint(checkpoint, source=str(args.checkpoint))
    training = checkpoint.get("training", {})
    data = training.get("data", {})
    if args.eval:
        metrics, how = _eval_metrics(args.eval, args.eval_row)
    else:
        saved = checkpoint.get("metrics", {})
        metrics = {k: v for k, v in saved.items() if isinstance(v, int | float)}
        how = "Metrics: the training run's validation."
    metrics["training_epochs"] = float(training.get("epochs", 0))
    metrics["training_hours"] = round(float(training.get("hours", 0.0)), 3)
    trained = (
        f"Trained {training.get('epochs')} epochs, {training.get('hours', 0.0):.2f} h on "
        f"{training.get('device', '?')}."
    )
    entry = publish_checkpoint(
        args.checkpoint,
        args.name,
        weights_dir=REPO / "weights",
        make_default=args.default,
        arch=checkpoint["arch"],
        head=_head(checkpoint["config"]),
        params=model.num_parameters(),
        training_data=f"{data.get('root', '?')} ({data.get('counts', ['?', '?'])[0]} train images)",
        training_command=training.get("command", ""),
        metrics=metrics,
        licence="; ".join(part for part in (DATA_LICENCE, args.licence_note) if part),
        description=" ".join(part for part in (args.description, trained, how) if part),
        aliases=tuple(args.alias),
    )
    if tuned:
        args.checkpoint.unlink()  # the temporary copy carrying the inference settings
    print(f"published {entry.name}: weights/{entry.file} ({entry.size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
