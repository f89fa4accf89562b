"""``colorcli colorize``: colourize image and video files and folders at full resolution."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

import typer
from rich import progress as bars
from rich.markup import escape
from rich.progress import Progress, TaskID

from colorcli.batch import Events, PathSettings, Summary, colorize_paths
from colorcli.checkpoint import load_model
from colorcli.cli import _options
from colorcli.cli._report import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    download_progress,
    err_console,
    reported_errors,
    say,
)
from colorcli.cli._video import VideoFormat, describe_video
from colorcli.device import describe_device, resolve_device
from colorcli.errors import ColorcliError, HintError
from colorcli.hints import Hints, parse_hints, read_hint_image
from colorcli.hub import default_model_name
from colorcli.imageio import DEFAULT_MAX_PIXELS, read_image
from colorcli.jobs import Job, Plan
from colorcli.pipeline import Colorizer
from colorcli.runner import JobResult
from colorcli.sharding import Shard, local_rank_device, parse_shard
from colorcli.video import DEFAULT_TEMPORAL, VideoProgress


def _input_path(value: str) -> Path:
    """An INPUT argument; an empty one is refused (``Path("")`` would be the current folder)."""
    if not value.strip():
        raise typer.BadParameter("an empty name is not a file or folder")
    return Path(value)


class OutputFormat(str, Enum):
    """Choices of ``--ext``: auto (keep each input's format) or a writable format."""

    auto = "auto"
    png = "png"
    jpg = "jpg"
    webp = "webp"
    tif = "tif"


def colorize_command(
    inputs: list[Path] = typer.Argument(
        ...,
        help="Image and video files and/or folders to colourize.",
        show_default=False,
        parser=_input_path,
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Folder for the results (created if missing)."
    ),
    model: str = _options.unset(
        "--model",
        "-m",
        help="Published model name or checkpoint path (default: the default model of "
        "colorcli models list).",
    ),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda, cuda:N or mps."),
    size: int | None = _options.size_option(),
    saturation: float | None = _options.SATURATION,
    temperature: float | None = _options.TEMPERATURE,
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Descend into sub-folders, keeping their structure."
    ),
    follow_links: bool = typer.Option(
        False,
        "--follow-links",
        help="With -r: also descend into links to folders (each real folder once, no loops).",
    ),
    ext: OutputFormat = typer.Option(
        "auto", "--ext", help="Output format; auto keeps each input's format."
    ),
    suffix: str = typer.Option("", "--suffix", help="Append to output file names, e.g. _color."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Images per model batch."),
    skip_color: bool = typer.Option(
        False, "--skip-color", help="Skip images that already have colour (default: recolour them)."
    ),
    compare: bool = typer.Option(
        False, "--compare", help="Also write an input|output side-by-side (<name>_compare)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Redo outputs that already exist (default: skip them)."
    ),
    half: bool = _options.half_option(default=True),
    max_pixels: int = typer.Option(
        DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Refuse images larger than this."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    video_ext: VideoFormat = typer.Option(
        "mp4", "--video-ext", help="Container of colourized videos (codec: best OpenCV has)."
    ),
    temporal: float = typer.Option(
        DEFAULT_TEMPORAL,
        "--temporal",
        callback=_options.between(0.0, 0.95),
        help="Video: smooth colour over frames, weight of the past, 0-0.95 (0 = off).",
    ),
    shard: str = _options.unset(
        "--shard",
        help="Do only part K of N (K/N, 1-based) of the sorted inputs, for N machines or GPUs "
        "writing one output tree; auto reads torchrun's RANK/WORLD_SIZE or a Slurm array's "
        "task id.",
    ),
    workers: int = _options.unset(
        "--workers",
        min=0,
        help="Threads that decode, join and encode (default: from the CPU count); 0 runs "
        "everything in one thread.",
    ),
    compile_model: bool = typer.Option(
        False, "--compile", help="Run the model through torch.compile (slow start, faster GPU)."
    ),
    hint: list[str] | None = _options.unset(
        "--hint",
        metavar="X,Y=COLOUR",
        help=(
            "A colour at a point: pixels of the input (120,340=#c0392b) or fractions "
            "(0.52,0.20=red); hex, rgb(…) or CSS names; repeatable. Guided models (default)."
        ),
    ),
    hints_image: Path | None = _options.unset(
        "--hints",
        metavar="FILE",
        help=(
            "Scribble hints: an image with colour strokes on a transparent layer (any size, "
            "scaled to the photo). A <stem>.hints.png beside a photo is picked up by itself."
        ),
    ),
    reference: Path | None = _options.unset(
        "--reference",
        metavar="FILE",
        help="A colour photo whose colours to follow (e.g. of the same street).",
    ),
    save_confidence: bool = typer.Option(
        False,
        "--save-confidence",
        help=(
            "Also write a confidence map beside each output (its name ending in "
            "_confidence.png): white where the model is sure of the colour, dark where a hint "
            "would help."
        ),
    ),
) -> None:
    """Colourize grayscale photos and films: INPUT files and folders into OUTPUT."""
    with reported_errors():
        chosen_shard = parse_shard(shard) if shard is not None else None
        if chosen_shard is not None and device == "auto":  # one GPU per rank under torchrun
            device = local_rank_device(os.environ)
        label = model or _default_label()
        settings = PathSettings(
            recursive=recursive,
            follow_links=follow_links,
            ext=ext.value,
            suffix=suffix,
            video_ext=video_ext.value,
            temporal=temporal,
            shard=chosen_shard,
            model_label=label,
            hints=_guidance(hint or [], hints_image, reference, max_pixels),
            save_confidence=save_confidence,
            overwrite=overwrite,
            skip_color=skip_color,
            compare=compare,
            batch_size=batch_size,
            max_pixels=max_pixels,
            workers=workers,
        )

        def load() -> Colorizer:
            with _options.bad_values_are_usage_errors():
                compute = resolve_device(device)
                with download_progress() as on_bytes:
                    loaded = load_model(model, device=compute, progress=on_bytes)
            return Colorizer(
                loaded,
                device=compute,
                size=size,
                saturation=saturation,
                half=half,
                compile=compile_model,
                temperature=temperature,
            )

        progress = _progress_bar(quiet)  # shown from the header on, not while loading
        try:
            summary = colorize_paths(
                inputs, output, load, settings, _progress_events(progress, label, chosen_shard)
            )
        finally:
            if progress.live.is_started:  # stop() on a bar never shown prints a blank line
                progress.stop()
    _report(summary, output)


def _progress_bar(quiet: bool) -> Progress:
    return Progress(
        bars.TextColumn("[progress.description]{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TextColumn("{task.fields[rate]}"),
        bars.TimeElapsedColumn(),
        bars.TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def _progress_events(progress: Progress, label: str, shard: Shard | None) -> Events:
    """A header once the model is loaded, one bar for the photos and one per video."""
    photos = progress.add_task("colourizing", total=0, rate="", visible=False)
    films: dict[Job, TaskID] = {}

    def planned(plan: Plan, colorizer: Colorizer) -> None:
        images = sum(1 for job in plan.jobs if job.kind == "image")
        videos = len(plan.jobs) - images
        err_console.print(
            f"colorcli: {images} image(s)"
            + (f", {videos} video(s)" if videos else "")
            + (f" (shard {shard})" if shard is not None else "")
            + f", model {label} ({colorizer.model.arch}), device "
            f"{describe_device(colorizer.device)}, size {colorizer.size}",
            highlight=False,
        )
        progress.update(photos, total=images, visible=bool(images))
        progress.start()

    def result(outcome: JobResult) -> None:
        if outcome.status == "failed":
            progress.console.print(f"[red]failed[/] {escape(outcome.reason)}", highlight=False)
        if outcome.job.kind == "video":
            task = films.get(outcome.job)
            if task is not None and outcome.video is not None:
                frames = outcome.video.frames
                progress.update(task, total=frames, completed=frames)
            return
        elapsed = progress.tasks[photos].elapsed or 0.0
        done = progress.tasks[photos].completed + 1
        rate = f"{done / elapsed:.1f} img/s" if elapsed > 0 else ""
        progress.update(photos, advance=1, rate=rate)

    def video_progress(job: Job, state: VideoProgress) -> None:
        if job not in films:
            films[job] = progress.add_task(
                escape(str(job.relative)), total=state.frames_total, rate=""
            )
        progress.update(films[job], completed=state.frames_done, rate=f"{state.fps:.1f} fps")

    return Events(planned=planned, result=result, video_progress=video_progress)


def _report(summary: Summary, output: Path) -> None:
    """The summary line, the notes and failures; exit 130 if interrupted, 1 if any failed."""
    for note in summary.notes:
        err_console.print(f"colorcli: {note}", highlight=False)
    for done in summary.done:
        if done.video is not None:
            say(escape(describe_video(done.video)), highlight=False, soft_wrap=True)
    failed = summary.failures
    skipped_exists = sum(1 for r in summary.skipped if r.reason.startswith("output exists"))
    skipped_colour = len(summary.skipped) - skipped_exists
    parts = [f"{len(summary.done)} done"]
    if skipped_exists:
        parts.append(f"{skipped_exists} skipped (output exists)")
    if skipped_colour:
        parts.append(f"{skipped_colour} skipped (already colour)")
    if summary.passed_over:
        parts.append(f"{len(summary.passed_over)} passed over (listed below)")
    parts.append(f"{len(failed)} failed")
    if summary.interrupted:
        parts.append(f"{summary.not_done} not done (interrupted)")
    if summary.ignored:
        parts.append(f"{summary.ignored} non-image file(s) ignored")
    if summary.notes and not (summary.images or summary.videos):
        return  # an empty shard: nothing ran
    say(
        f"Summary: {', '.join(parts)} in {summary.seconds:.1f} s → {escape(str(output))}",
        highlight=False,
    )
    noted = [result for result in summary.done if result.reason]
    if noted:
        err_console.print("Notes:", highlight=False)
        for result in noted:
            line = f"{result.job.source}: {result.reason}"
            err_console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    if summary.passed_over:
        err_console.print("Passed over:", highlight=False)
        for path, reason in summary.passed_over:
            err_console.print(f"  {escape(f'{path}: {reason}')}", highlight=False, soft_wrap=True)
    if failed:
        err_console.print("Failures:", highlight=False)
        for source, reason in failed:
            message = reason if str(source) in reason else f"{source}: {reason}"
            err_console.print(f"  {escape(message)}", highlight=False, soft_wrap=True)
    if summary.interrupted:
        err_console.print("interrupted: run the same command again to do the rest", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _guidance(
    texts: list[str], hints_image: Path | None, reference: Path | None, max_pixels: int
) -> Hints | None:
    """The run's hints from --hint, --hints and --reference (errors name the bad one)."""
    if not texts and hints_image is None and reference is None:
        return None
    guidance = Hints(points=parse_hints(texts))
    if hints_image is not None:
        guidance.image = read_hint_image(hints_image)
    if reference is not None:
        try:
            guidance.reference = read_image(reference, max_pixels=max_pixels).pixels
        except ColorcliError as error:
            raise HintError(f"--reference: {error}") from None
    return guidance


def _default_label() -> str:
    """``default`` with the published name it stands for, when the manifest names one."""
    try:
        name = default_model_name()
    except ColorcliError:  # an unreadable manifest was already reported by load_model
        return "default"
    return f"default = {name}" if name else "default"
