"""The video part of ``colorcli colorize``: a progress bar per film and its summary line."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from rich.markup import escape
from rich.progress import Progress, TaskID

from colorcli.jobs import Job
from colorcli.pipeline import Colorizer
from colorcli.video import (
    VideoJobResult,
    VideoProgress,
    VideoResult,
    VideoRunSummary,
    VideoSettings,
    colorize_video_jobs,
)


class VideoFormat(str, Enum):
    """Choices of ``--video-ext``: containers colourized videos are written to."""

    mp4 = "mp4"
    mkv = "mkv"
    mov = "mov"
    avi = "avi"


def run_videos(
    jobs: Sequence[Job], colorizer: Colorizer, settings: VideoSettings, progress: Progress
) -> VideoRunSummary:
    """Colourize ``jobs`` with one progress bar (frames, fps, ETA) per video."""
    tasks: dict[Job, TaskID] = {}

    def on_progress(job: Job, state: VideoProgress) -> None:
        if job not in tasks:
            tasks[job] = progress.add_task(
                escape(str(job.relative)), total=state.frames_total, rate=""
            )
        progress.update(tasks[job], completed=state.frames_done, rate=f"{state.fps:.1f} fps")

    def on_result(result: VideoJobResult) -> None:
        if result.status == "failed":
            progress.console.print(f"[red]failed[/] {escape(result.reason)}", highlight=False)
        task = tasks.get(result.job)
        if task is not None and result.video is not None:
            progress.update(task, total=result.video.frames, completed=result.video.frames)

    return colorize_video_jobs(jobs, colorizer, settings, on_progress, on_result)


def describe_video(result: VideoResult) -> str:
    """One line about a colourized video: geometry, codec, speed, flicker, audio."""
    parts = [
        f"{result.frames} frames {result.width}x{result.height} @ {result.fps:g} fps, "
        f"codec {result.codec}",
        f"{result.seconds:.1f} s ({result.frames_per_second:.1f} fps)",
    ]
    if result.flicker_before is not None and result.flicker_after is not None:
        cuts = f", {result.scene_cuts} scene cut(s)" if result.scene_cuts else ""
        parts.append(
            f"flicker {result.flicker_before:.2f} → {result.flicker_after:.2f} "
            f"(--temporal {result.temporal:g}){cuts}"
        )
    if result.audio == "copied":
        parts.append("audio copied")
    elif result.audio == "none":
        parts.append("no audio track")
    else:
        parts.append(f"audio dropped ({result.audio_reason})")
    parts.extend(result.notes)
    return f"{result.source} → {result.output}: {'; '.join(parts)}"
