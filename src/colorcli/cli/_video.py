"""The video part of ``colorcli colorize``: ``--video-ext`` choices and a film's summary line."""

from __future__ import annotations

from enum import Enum

from colorcli.video import VideoResult


class VideoFormat(str, Enum):
    """Choices of ``--video-ext``: containers colourized videos are written to."""

    mp4 = "mp4"
    mkv = "mkv"
    mov = "mov"
    avi = "avi"


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
