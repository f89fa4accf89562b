"""``colorcli eval``: score colourizers side by side on colour photographs, gray baseline first."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import torch
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from colorcli import hub
from colorcli.checkpoint import load_model
from colorcli.cli import _options
from colorcli.cli._report import console, err_console, reported_errors
from colorcli.device import describe_device, resolve_device
from colorcli.errors import ColorcliError, DataError, UsageError
from colorcli.evaluation import (
    BASELINE_NAME,
    DEFAULT_BATCH_SIZE,
    DEFAULT_METRICS,
    DEFAULT_PROTOCOL,
    REFERENCE_NAME,
    EvalReport,
    ImageEvent,
    MetricSummary,
    evaluate,
    find_eval_images,
    parse_protocol,
    write_per_image_csv,
)
from colorcli.metrics import METRICS
from colorcli.pipeline import Colorizer

MetricName = Enum("MetricName", {name: name for name in METRICS}, type=str)  # type: ignore[misc]
"""Choices of ``--metric``: the keys of :data:`colorcli.metrics.METRICS`."""

_DECIMALS = {
    "psnr": 2,
    "deltae": 2,
    "colorfulness": 1,
    "delta_cf": 1,
    "mse_ab": 4,
    "ssim": 4,
    "ssim_l": 4,
    "imgsim": 4,
    "accuracy": 4,
}


def _protocol_callback(value: str) -> str:
    try:
        return parse_protocol(value).name
    except UsageError as error:
        raise typer.BadParameter(str(error)) from None


def eval_command(
    models: list[str] = _options.unset(
        "--model",
        "-m",
        help="Model name or checkpoint path; repeat to compare (default: the default model).",
    ),
    data: Path = _options.unset(
        "--data",
        help="Folder of colour photos, searched recursively (default: the built-in samples).",
    ),
    metrics: list[MetricName] = _options.unset(
        "--metric",
        metavar="NAME",
        help=f"Metric to score: {', '.join(METRICS)}; repeat for several (default: "
        f"{' '.join(DEFAULT_METRICS)}).",
    ),
    protocol: str = typer.Option(
        DEFAULT_PROTOCOL,
        "--protocol",
        callback=_protocol_callback,
        help="What is compared: crop256 (centre square resized to 256x256; any cropN) or full.",
    ),
    size: int | None = _options.size_option(note=" (not the protocol's crop)"),
    saturation: float | None = _options.SATURATION,
    temperature: float | None = _options.TEMPERATURE,
    limit: int = typer.Option(
        None, "--limit", min=1, help="Score only the first N colour images in sorted order."
    ),
    batch_size: int = typer.Option(
        DEFAULT_BATCH_SIZE, "--batch-size", "-b", min=1, help="Images per model batch."
    ),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda, cuda:N or mps."),
    half: bool = _options.half_option(default=False),  # scores in full precision unless asked
    json_output: bool = typer.Option(
        False, "--json", help="Print the results as JSON on stdout instead of a table."
    ),
    per_image: Path = _options.unset(
        "--per-image",
        help="Also write one CSV row per image and model (gray included) to this file.",
    ),
    samples: Path = _options.unset(
        "--samples",
        help="Also write a gray | models | original PNG grid per image into this folder.",
    ),
    hints: str | None = _options.unset(
        "--hints",
        metavar="N,N,...",
        help=(
            "Guided models: also score with N colour hints per photo simulated from its "
            "truth (the same points for every model), e.g. 0,1,5,10,20."
        ),
    ),
    own_reference: bool = typer.Option(
        False,
        "--own-reference",
        help="Guided models: also score with each photo's own colour histogram as reference.",
    ),
    confidence: bool = typer.Option(
        False,
        "--confidence",
        help=(
            "Report the ab error of the least and of the most confident quarter of pixels "
            "(how well the confidence map ranks the error)."
        ),
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score colourizers on colour photos: each photo's L is colourized and compared with it.

    The gray baseline (the L with no colour) is always the first row, so every number has its
    reference. Without --data the built-in sample photos are used; without --model the
    default model.
    """
    with reported_errors():
        hint_counts = _hint_counts(hints)
        chosen = parse_protocol(protocol)
        _say_err(chosen.description)
        names = [metric.value for metric in metrics] if metrics else list(DEFAULT_METRICS)
        if per_image is not None and per_image.is_dir():
            raise UsageError(f"--per-image {per_image} is a folder; give a .csv file name")
        if samples is not None and samples.exists() and not samples.is_dir():
            raise UsageError(f"--samples {samples} exists and is not a folder")
        eval_data = find_eval_images(data, exclude=[samples] if samples is not None else [])
        with _options.bad_values_are_usage_errors():
            compute = resolve_device(device)
            colorizers = _load_colorizers(
                models or [], compute, size, saturation, half, temperature
            )
        where = "built-in sample photos" if eval_data.builtin else str(eval_data.root)
        _say_err(
            f"data: {where}, {len(eval_data.files)} file(s); rows: "
            f"{', '.join([BASELINE_NAME, *colorizers])}; metrics: {', '.join(names)}; "
            f"device {describe_device(compute)}, inference size "
            f"{', '.join(sorted({str(c.size) for c in colorizers.values()}))}"
        )
        total = len(eval_data.files) if limit is None else min(limit, len(eval_data.files))
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet or not err_console.is_terminal,
            transient=True,
        )
        with progress:
            task = progress.add_task("scoring", total=total)

            def on_image(event: ImageEvent) -> None:
                progress.advance(task)

            report = evaluate(
                colorizers,
                eval_data,
                metrics=names,
                protocol=chosen,
                batch_size=batch_size,
                limit=limit,
                samples_dir=samples,
                device=compute,
                on_image=on_image,
                hints=hint_counts,
                own_reference=own_reference,
                confidence=confidence,
            )
        _report_files(report)
        if not report.scored:
            raise DataError(
                f"{eval_data.root}: no colour photograph could be scored "
                f"({len(report.skipped_gray)} already gray, {len(report.failed)} failed)"
            )
        if per_image is not None:
            write_per_image_csv(report, per_image)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    else:
        console.print(results_table(report))
        for row in report.confidence:
            summary = report.confidence_summary(row)
            if summary:
                _say_err(
                    f"confidence of {row}: ab error {summary['error_least_confident_quarter']:.2f}"
                    f" in the least confident quarter of pixels, "
                    f"{summary['error_most_confident_quarter']:.2f} in the most confident"
                )
    if per_image is not None:
        _say_err(f"per-image values: {per_image}")
    if samples is not None:
        _say_err(f"sample grids: {samples}")


def _hint_counts(text: str | None) -> list[int]:
    """``"0,1,5"`` -> [0, 1, 5]; raises UsageError naming the bad part."""
    if text is None:
        return []
    counts = []
    for part in text.split(","):
        try:
            count = int(part.strip())
        except ValueError:
            raise UsageError(f"--hints must be whole numbers like 0,1,5,10, got {text!r}") from None
        if count < 0:
            raise UsageError(f"--hints counts must be >= 0, got {count}")
        counts.append(count)
    return counts


def _load_colorizers(
    names: list[str],
    device: torch.device,
    size: int | None,
    saturation: float | None,
    half: bool,
    temperature: float | None = None,
) -> dict[str, Colorizer]:
    """Load every ``--model`` (the default model when none) into a :class:`Colorizer`."""
    wanted: list[str | None] = list(names) if names else [None]
    colorizers: dict[str, Colorizer] = {}
    for name in wanted:
        label = name if name is not None else _default_label()
        if label in colorizers:
            raise UsageError(f"--model {label} is given twice")
        if label in (BASELINE_NAME, REFERENCE_NAME):
            raise UsageError(f"--model {label}: that name is reserved for a reference row")
        model = load_model(name, device=device)
        colorizers[label] = Colorizer(
            model,
            device=device,
            size=size,
            saturation=saturation,
            half=half,
            temperature=temperature,
        )
    return colorizers


def _default_label() -> str:
    try:
        return hub.default_model_name() or "default"
    except ColorcliError:
        return "default"


def _report_files(report: EvalReport) -> None:
    """Summary counts and the list of files that could not be scored, on stderr."""
    parts = [f"scored {report.scored} image(s)"]
    if report.skipped_gray:
        parts.append(f"{len(report.skipped_gray)} skipped (already gray)")
    parts.append(f"{len(report.failed)} failed")
    unexamined = len(report.data.files) - report.examined
    if unexamined:
        parts.append(f"{unexamined} not examined (--limit)")
    _say_err(f"Summary: {', '.join(parts)} in {report.seconds:.1f} s")
    if report.failed:
        _say_err("Failed:")
        for image, reason in report.failed:
            _say_err(f"  {reason if image in reason else f'{image}: {reason}'}")


def format_summary(metric: str, summary: MetricSummary) -> str:
    """``"24.31 ± 0.52"``, or ``"3.1 [0.0, 6.2]"`` when the interval is not symmetric."""
    places = _DECIMALS.get(metric, 3)
    if METRICS[metric].level == "set":
        return f"{summary.value:.{places}f} [{summary.low:.{places}f}, {summary.high:.{places}f}]"
    half_width = (summary.high - summary.low) / 2.0
    return f"{summary.value:.{places}f} ± {half_width:.{places}f}"


def results_table(report: EvalReport) -> Table:
    """One row per model (gray first, then the models, then the originals' colourfulness)."""
    table = Table(
        caption=Text(
            f"{report.scored} image(s), {report.protocol.name}: mean ± 95% interval half-width "
            "(delta_cf: value [95% interval]); ↑/↓ better; best in bold"
        ),
    )
    table.add_column("model", no_wrap=True)
    for metric in report.metrics:
        arrow = "↑" if METRICS[metric].higher_is_better else "↓"
        table.add_column(f"{metric} {arrow}", justify="right", no_wrap=True)
    summaries = {
        row: {metric: report.summary(row, metric) for metric in report.metrics}
        for row in report.rows
    }
    best = {metric: _best_row(metric, summaries) for metric in report.metrics}
    for row in report.rows:
        cells = []
        for metric in report.metrics:
            text = Text(format_summary(metric, summaries[row][metric]))
            if best[metric] == row:
                text.stylize("bold")
            cells.append(text)
        table.add_row(Text(row, style="dim" if row == BASELINE_NAME else ""), *cells)
    original = report.original_colorfulness()
    if original is not None and "colorfulness" in report.metrics:
        cells = [
            Text(format_summary(metric, original) if metric == "colorfulness" else "", style="dim")
            for metric in report.metrics
        ]
        table.add_row(Text(REFERENCE_NAME, style="dim"), *cells)
    return table


def _best_row(metric: str, summaries: dict[str, dict[str, MetricSummary]]) -> str | None:
    """Row with the best value of ``metric``; none for colourfulness (matching the originals
    is what counts there, see delta_cf) or when there is a single row."""
    if metric == "colorfulness" or len(summaries) < 2:
        return None
    pick = max if METRICS[metric].higher_is_better else min
    return pick(summaries, key=lambda row: summaries[row][metric].value)


def _say_err(message: str) -> None:
    """One plain line on stderr: no markup, no wrapping (paths stay copyable)."""
    err_console.print(Text(message), soft_wrap=True, highlight=False)
