"""``colorcli colorize``: colourize image and video files and folders at full resolution."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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
from colorcli.cli._video import VideoFormat, describe_video, run_videos
from colorcli.device import describe_device, resolve_device
from colorcli.errors import ColorcliError, HintError, UsageError
from colorcli.hints import Hints, parse_hints, read_hint_image
from colorcli.hub import default_model_name
from colorcli.imageio import DEFAULT_MAX_PIXELS, read_image
from colorcli.jobs import plan_jobs
from colorcli.pipeline import Colorizer
from colorcli.runner import ColorizeSettings, JobResult, RunInterrupted, colorize_jobs
from colorcli.sharding import local_rank_device, parse_shard, select_shard
from colorcli.video import DEFAULT_TEMPORAL, VideoRunSummary, VideoSettings


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
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Published model name or checkpoint path (default: the default model of "
        "colorcli models list).",
        show_default=False,
    ),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda, cuda:N or mps."),
    size: int | None = _options.size_option(),
    saturation: float | None = _options.SATURATION,
    temperature: float | None = _options.TEMPERATURE,
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Descend into sub-folders, keeping their structure."
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
    shard: str = typer.Option(
        None,
        "--shard",
        help="Do only part K of N (K/N, 1-based) of the sorted inputs, for N machines or GPUs "
        "writing one output tree; auto reads torchrun's RANK/WORLD_SIZE or a Slurm array's "
        "task id.",
        show_default=False,
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        min=0,
        help="Threads that decode, join and encode (default: from the CPU count); 0 runs "
        "everything in one thread.",
        show_default=False,
    ),
    compile_model: bool = typer.Option(
        False, "--compile", help="Run the model through torch.compile (slow start, faster GPU)."
    ),
    hint: list[str] = typer.Option(
        [],
        "--hint",
        metavar="X,Y=COLOUR",
        help=(
            "A colour at a point: pixels of the input (120,340=#c0392b) or fractions "
            "(0.52,0.20=red); hex, rgb(…) or CSS names; repeatable. Guided models (default)."
        ),
        show_default=False,
    ),
    hints_image: Path | None = typer.Option(
        None,
        "--hints",
        metavar="FILE",
        help=(
            "Scribble hints: an image with colour strokes on a transparent layer (any size, "
            "scaled to the photo). A <stem>.hints.png beside a photo is picked up by itself."
        ),
        show_default=False,
    ),
    reference: Path | None = typer.Option(
        None,
        "--reference",
        metavar="FILE",
        help="A colour photo whose colours to follow (e.g. of the same street).",
        show_default=False,
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
        plan = plan_jobs(
            inputs,
            output,
            recursive=recursive,
            ext=ext.value,
            suffix=suffix,
            video_ext=video_ext.value,
            compare=compare,
        )
        planned = len(plan.jobs)
        if chosen_shard is not None:
            plan.jobs = select_shard(plan.jobs, chosen_shard)
            if chosen_shard.index != 1:
                plan.refused = []  # shard 1 reports them, so the shards' union is one run's
            if device == "auto":  # one GPU per local rank under torchrun
                device = local_rank_device(os.environ)
        image_jobs = [job for job in plan.jobs if job.kind == "image"]
        video_jobs = [job for job in plan.jobs if job.kind == "video"]
        if planned and not plan.jobs and not plan.refused:  # more shards than inputs
            err_console.print(
                f"colorcli: shard {chosen_shard} has nothing to do ({planned} input(s) in "
                "all, each done by another shard)",
                highlight=False,
            )
            return
        if not plan.jobs and not plan.refused:
            raise UsageError(
                f"no images found in {', '.join(str(p) for p in inputs)}"
                + (f" ({plan.ignored} non-image file(s) ignored)" if plan.ignored else "")
            )
        with _options.bad_values_are_usage_errors():
            compute = resolve_device(device)
            with download_progress() as on_bytes:
                loaded = load_model(model, device=compute, progress=on_bytes)
        colorizer = Colorizer(
            loaded,
            device=compute,
            size=size,
            saturation=saturation,
            half=half,
            compile=compile_model,
            temperature=temperature,
        )
        err_console.print(
            f"colorcli: {len(image_jobs)} image(s)"
            + (f", {len(video_jobs)} video(s)" if video_jobs else "")
            + (f" (shard {chosen_shard})" if chosen_shard is not None else "")
            + f", model {model or _default_label()} "
            f"({loaded.arch}), device {describe_device(compute)}, size {colorizer.size}",
            highlight=False,
        )
        guidance = _guidance(hint, hints_image, reference, max_pixels)
        if guidance and not loaded.accepts_hints:
            raise UsageError(
                f"model {model or _default_label()} takes no colour hints or reference; "
                "use a guided model (--model lite0-guided)"
            )
        if save_confidence and not loaded.is_classifier:
            raise UsageError(
                f"--save-confidence: model {model or _default_label()} regresses ab and has no "
                "per-pixel confidence; use a colour-class model (default, vivid)"
            )
        if video_jobs and (guidance or save_confidence):
            raise UsageError("--hint, --hints, --reference and --save-confidence apply to photos")
        settings = ColorizeSettings(
            hints=guidance,
            save_confidence=save_confidence,
            overwrite=overwrite,
            skip_color=skip_color,
            compare=compare,
            batch_size=batch_size,
            max_pixels=max_pixels,
            out_root=output,
            workers=workers,
        )
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
            transient=False,
        )
        with progress:
            task = progress.add_task(
                "colourizing", total=len(image_jobs), rate="", visible=bool(image_jobs)
            )

            def on_result(result: JobResult) -> None:
                if result.status == "failed":
                    progress.console.print(
                        f"[red]failed[/] {escape(result.reason)}", highlight=False
                    )
                elapsed = progress.tasks[task].elapsed or 0.0
                done = progress.tasks[task].completed + 1
                rate = f"{done / elapsed:.1f} img/s" if elapsed > 0 else ""
                progress.update(task, advance=1, rate=rate)

            interrupted = False
            videos = VideoRunSummary()
            try:
                summary = colorize_jobs(image_jobs, colorizer, settings, on_result)
            except RunInterrupted as stop:  # Ctrl-C: report what was done, then exit 130
                summary, interrupted = stop.summary, True
            video_settings = VideoSettings(
                temporal=temporal,
                batch_size=batch_size,
                overwrite=overwrite,
                max_pixels=max_pixels,
                out_root=output,
            )
            if video_jobs and not interrupted:
                try:
                    videos = run_videos(video_jobs, colorizer, video_settings, progress)
                except KeyboardInterrupt:  # Ctrl-C during a video: report the photos
                    interrupted = True
    for done in videos.done:
        if done.video is not None:
            say(escape(describe_video(done.video)), highlight=False, soft_wrap=True)
    failed = [(r.job.source, r.reason) for r in summary.failed]
    failed += [(r.job.source, r.reason) for r in videos.failed] + plan.refused
    skipped_exists = sum(1 for r in summary.skipped if r.reason.startswith("output exists"))
    skipped_colour = len(summary.skipped) - skipped_exists
    skipped_exists += len(videos.skipped)
    parts = [f"{summary.done + len(videos.done)} done"]
    if skipped_exists:
        parts.append(f"{skipped_exists} skipped (output exists)")
    if skipped_colour:
        parts.append(f"{skipped_colour} skipped (already colour)")
    parts.append(f"{len(failed)} failed")
    if interrupted:
        finished = summary.done + len(summary.skipped) + len(summary.failed)
        finished += len(videos.done) + len(videos.skipped) + len(videos.failed)
        parts.append(f"{len(image_jobs) + len(video_jobs) - finished} not done (interrupted)")
    if plan.ignored:
        parts.append(f"{plan.ignored} non-image file(s) ignored")
    seconds = summary.seconds + videos.seconds
    say(
        f"Summary: {', '.join(parts)} in {seconds:.1f} s → {escape(str(output))}",
        highlight=False,
    )
    if failed:
        err_console.print("Failures:", highlight=False)
        for source, reason in failed:
            message = reason if str(source) in reason else f"{source}: {reason}"
            err_console.print(f"  {escape(message)}", highlight=False, soft_wrap=True)
    if interrupted:
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
