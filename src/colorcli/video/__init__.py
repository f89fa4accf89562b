"""Colourize video files: streamed in batches, ab smoothed over time, audio kept when possible.

Frames are decoded one by one in a child process with OpenCV's FFmpeg backend (a video is
never held in memory whole, and a decoder crash costs one file: :mod:`.decoder`),
colourized ``batch_size`` at a time like images (small L into the model, ab joined to the
full-resolution L), with the small ab maps smoothed across frames by
:class:`~colorcli.temporal.TemporalSmoother` (:mod:`.colorize`), and encoded with the first
codec the container takes here (:mod:`.writer`) to a hidden
``.<name>.<random>.partial.<ext>`` file next to the output. If an ``ffmpeg`` executable is
found (on ``PATH``, or from the optional ``imageio-ffmpeg`` package) the source's audio is
copied in (:mod:`.audio`); the finished file must read back whole before it is moved into
place (:mod:`.verify`), so an interrupted or short run never leaves a half-written video
under the final name. :mod:`.jobs` runs a planned list of videos, one failure at a time.
"""

from colorcli.video.audio import find_ffmpeg
from colorcli.video.colorize import (
    DEFAULT_FPS,
    DEFAULT_TEMPORAL,
    VideoProgress,
    VideoResult,
    colorize_video,
)
from colorcli.video.decoder import VideoInfo, probe_video
from colorcli.video.jobs import (
    VideoJobResult,
    VideoRunSummary,
    VideoSettings,
    colorize_video_jobs,
)
from colorcli.video.writer import writable_fourcc

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_TEMPORAL",
    "VideoInfo",
    "VideoJobResult",
    "VideoProgress",
    "VideoResult",
    "VideoRunSummary",
    "VideoSettings",
    "colorize_video",
    "colorize_video_jobs",
    "find_ffmpeg",
    "probe_video",
    "writable_fourcc",
]
