"""Video colourizing: output geometry, temporal smoothing, scene cuts, bad files, audio, safety."""

from __future__ import annotations

import itertools
import stat
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from colorcli.atomic import _PARTIAL_NAME, remove_stale_partials, writer_lock
from colorcli.errors import VideoError
from colorcli.jobs import VIDEO_OUTPUT_EXTENSIONS, Job, plan_jobs
from colorcli.models import get_model
from colorcli.pipeline import Colorizer
from colorcli.temporal import (
    FlickerMeter,
    SceneCutDetector,
    TemporalSmoother,
    histogram_distance,
    luminance_histogram,
    static_mask,
)
from colorcli.video import (
    VideoProgress,
    VideoSettings,
    colorize_video,
    colorize_video_jobs,
    find_ffmpeg,
    probe_video,
    writable_fourcc,
)
from colorcli.video import audio as video_audio
from colorcli.video import decoder as video_decoder


def make_video(
    path: Path,
    *,
    frames: int = 20,
    size: tuple[int, int] = (64, 48),
    fps: float = 12.0,
    cut_at: int | None = None,
    fourcc: str = "mp4v",
    backend: int = cv2.CAP_FFMPEG,
    seed: int = 0,
) -> Path:
    """Gray film: a square and a bar moving over a static gradient, light noise per frame.

    From frame ``cut_at`` on, a different, much brighter shot.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 160, width)[None, :] + np.linspace(0, 40, height)[:, None]
    writer = cv2.VideoWriter(
        str(path), backend, cv2.VideoWriter.fourcc(*fourcc), fps, (width, height)
    )
    assert writer.isOpened()
    for index in range(frames):
        if cut_at is not None and index >= cut_at:
            gray = 230 - gradient / 4
        else:
            gray = gradient.copy()
            x = 4 + 2 * index
            gray[8:20, x : x + 12] = 240
            gray[30:36, : 3 * index + 4] = 20
        gray = gray + rng.normal(0, 1.5, gray.shape)
        frame = np.clip(gray, 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    """A random-weight unet small enough to run instantly.

    Its head is scaled up so ab follows the picture strongly (and so flickers with noise).
    """
    torch.manual_seed(0)
    model = get_model("unet", width=4, depth=2)
    with torch.no_grad():
        model.head.conv.bias.copy_(torch.tensor([0.2, 0.3]))
        model.head.conv.weight.mul_(30.0)
    return Colorizer(model, size=32)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mp4")


@pytest.fixture
def short_clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "short.mp4", frames=5)


@pytest.fixture(autouse=True)
def _no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run without ffmpeg unless they say otherwise (audio has its own tests)."""
    monkeypatch.setattr(video_audio, "find_ffmpeg", lambda: None)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if "partial" in p.name]


# --- output geometry -------------------------------------------------------------------------


def test_output_keeps_frame_count_size_and_fps_and_is_colour(
    clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = colorize_video(clip, out / "clip.mp4", colorizer)
    frames, fps = read_video(out / "clip.mp4")
    assert len(frames) == result.frames == 20
    assert frames[0].shape == (48, 64, 3)
    assert (result.width, result.height) == (64, 48)
    assert fps == pytest.approx(12.0) and result.fps == pytest.approx(12.0)
    spread = np.abs(frames[5].astype(int)[..., 0] - frames[5].astype(int)[..., 2])
    assert spread.mean() > 5, "output should be in colour"
    assert result.codec in ("avc1", "mp4v")
    assert probe_video(out / "clip.mp4").frame_count == 20
    assert not _leftovers(out)


@pytest.mark.parametrize("ext", ["mkv", "avi"])
def test_other_containers(tmp_path: Path, colorizer: Colorizer, ext: str) -> None:
    source = make_video(tmp_path / "clip.avi", frames=4, fourcc="MJPG")
    result = colorize_video(source, tmp_path / f"out.{ext}", colorizer)
    frames, _ = read_video(tmp_path / f"out.{ext}")
    assert len(frames) == result.frames == 4
    assert result.codec == writable_fourcc(ext)


def test_odd_size_is_cropped_to_even_and_said(tmp_path: Path, colorizer: Colorizer) -> None:
    source = make_video(
        tmp_path / "odd.avi", frames=3, size=(65, 49), fourcc="MJPG", backend=cv2.CAP_OPENCV_MJPEG
    )
    if probe_video(source).width != 65:
        pytest.skip("this OpenCV build cannot write odd-sized test videos")
    result = colorize_video(source, tmp_path / "odd.mp4", colorizer)
    assert (result.width, result.height) == (64, 48)
    assert any("cropped to 64x48" in note for note in result.notes)


def test_progress_is_reported_per_batch(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    seen: list[VideoProgress] = []
    colorize_video(short_clip, tmp_path / "o.mp4", colorizer, batch_size=2, on_progress=seen.append)
    assert [p.frames_done for p in seen] == [2, 4, 5]
    assert all(p.frames_total == 5 for p in seen)
    assert seen[-1].eta_seconds == 0
    assert seen[0].fps > 0


# --- temporal stability ----------------------------------------------------------------------


def _output_flicker(path: Path) -> float:
    """Mean |Δab| over pixels whose L barely changed, measured on the written frames."""
    frames, _ = read_video(path)
    labs = [cv2.cvtColor(f, cv2.COLOR_BGR2LAB).astype(np.float32) for f in frames]
    total, count = 0.0, 0
    for before, after in itertools.pairwise(labs):
        still = np.abs(after[..., 0] - before[..., 0]) < 3
        change = np.linalg.norm(after[..., 1:] - before[..., 1:], axis=-1)
        total += float(change[still].sum())
        count += int(still.sum())
    return total / count


def test_smoothing_lowers_flicker(clip: Path, colorizer: Colorizer, tmp_path: Path) -> None:
    raw = colorize_video(clip, tmp_path / "raw.mp4", colorizer, temporal=0.0)
    smooth = colorize_video(clip, tmp_path / "smooth.mp4", colorizer, temporal=0.8)
    assert raw.flicker_before is not None and raw.flicker_after is not None
    assert smooth.flicker_before is not None and smooth.flicker_after is not None
    assert raw.flicker_after == pytest.approx(raw.flicker_before)
    assert smooth.flicker_before == pytest.approx(raw.flicker_before)
    assert smooth.flicker_after < 0.6 * raw.flicker_after
    # and it shows in the written film, not only in the figure
    assert _output_flicker(tmp_path / "smooth.mp4") < _output_flicker(tmp_path / "raw.mp4")


def test_scene_cut_detector_fires_on_the_cut_only(tmp_path: Path) -> None:
    from colorcli.pipeline import prepare_input

    source = make_video(tmp_path / "cut.avi", frames=12, cut_at=7, fourcc="MJPG")
    frames, _ = read_video(source)
    detector = SceneCutDetector()
    cuts = [
        detector.update(prepare_input(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), 32).lightness)
        for f in frames
    ]
    assert cuts == [index == 7 for index in range(12)]


def test_scene_cut_resets_smoothing() -> None:
    dark, bright = torch.full((8, 8), 20.0), torch.full((8, 8), 80.0)
    smoother = TemporalSmoother(0.9)
    smoother.update(dark, torch.full((2, 8, 8), 30.0))
    smoother.update(dark, torch.full((2, 8, 8), 30.0))
    after_cut = smoother.update(bright, torch.full((2, 8, 8), -10.0))
    assert smoother.scene_cuts == 1
    torch.testing.assert_close(after_cut, torch.full((2, 8, 8), -10.0))


def test_still_pixels_are_averaged_moving_ones_follow_the_prediction() -> None:
    smoother = TemporalSmoother(0.5)
    first = torch.full((4, 4), 50.0)
    smoother.update(first, torch.zeros(2, 4, 4))
    second = first.clone()
    second[0, 0] = 90.0  # something moved into this pixel
    out = smoother.update(second, torch.full((2, 4, 4), 10.0))
    assert out[0, 0, 0] == pytest.approx(10.0)
    assert out[0, 1, 1] == pytest.approx(5.0)
    assert smoother.flicker_before.value == pytest.approx(10 * 2**0.5)
    assert smoother.flicker_after.value == pytest.approx(5 * 2**0.5)


def test_temporal_helpers_check_their_input() -> None:
    histogram = luminance_histogram(torch.full((1, 4, 4), 50.0))
    assert histogram.shape == (32,) and float(histogram.sum()) == pytest.approx(1.0)
    assert histogram_distance(histogram, histogram) == 0.0
    assert static_mask(torch.zeros(2, 2), torch.tensor([[0.0, 5.0], [1.0, 0.0]])).tolist() == [
        [True, False],
        [True, True],
    ]
    assert FlickerMeter().value is None
    with pytest.raises(ValueError, match=r"temporal strength must be in \[0, 0.95\], got 0.99"):
        TemporalSmoother(0.99)
    with pytest.raises(ValueError, match=r"ab must have shape \(2, 4, 4\), got \(3, 4, 4\)"):
        TemporalSmoother(0.5).update(torch.zeros(4, 4), torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"lightness must have shape"):
        luminance_histogram(torch.zeros(2, 3, 4))


# --- bad files and safety --------------------------------------------------------------------


def _truncated_avi(folder: Path) -> Path:
    whole = make_video(folder / "whole.avi", frames=20, fourcc="MJPG")
    cut = folder / "cut.avi"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return cut


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.mp4", lambda folder: (folder / "empty.mp4").write_bytes(b""), "empty file"),
        (
            "junk.mp4",
            lambda folder: (folder / "junk.mp4").write_bytes(b"not a film " * 500),
            "not a readable video",
        ),
        ("cut.avi", _truncated_avi, "truncated or corrupt video"),
        ("gone.mp4", lambda folder: None, "not found"),
    ],
)
def test_bad_videos_raise_video_error(
    tmp_path: Path, colorizer: Colorizer, name: str, make, reason: str
) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    make(inputs)
    with pytest.raises(VideoError, match=reason) as caught:
        colorize_video(inputs / name, out / "x.mp4", colorizer)
    assert str(caught.value).startswith(str(inputs / name))
    assert list(out.iterdir()) == []


def test_a_bad_video_fails_alone(short_clip: Path, colorizer: Colorizer, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 4000)
    out = tmp_path / "out"
    out.mkdir()
    jobs = [
        Job(junk, out / "junk.mp4", Path("junk.mkv"), kind="video"),
        Job(short_clip, out / "short.mp4", Path("short.mp4"), kind="video"),
    ]
    results = []
    summary = colorize_video_jobs(jobs, colorizer, VideoSettings(), on_result=results.append)
    assert [r.status for r in results] == ["failed", "done"]
    assert "junk.mkv" in summary.failed[0].reason
    assert summary.done[0].video is not None and summary.done[0].video.frames == 5
    assert sorted(p.name for p in out.iterdir()) == ["short.mp4"]


def test_existing_output_is_skipped_or_replaced(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    target = tmp_path / "colour.mp4"
    target.write_bytes(b"old")
    job = Job(short_clip, target, Path("colour.mp4"), kind="video")
    summary = colorize_video_jobs([job], colorizer, VideoSettings())
    assert summary.skipped[0].reason == "output exists (use --overwrite to redo it)"
    with pytest.raises(VideoError, match="already exists"):
        colorize_video(short_clip, target, colorizer)
    assert target.read_bytes() == b"old"
    summary = colorize_video_jobs([job], colorizer, VideoSettings(overwrite=True))
    assert len(summary.done) == 1 and target.stat().st_size > 100


def test_interrupted_run_leaves_nothing_under_the_final_name(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    def interrupt(progress: VideoProgress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        colorize_video(short_clip, tmp_path / "out.mp4", colorizer, on_progress=interrupt)
    assert not (tmp_path / "out.mp4").exists()
    assert not _leftovers(tmp_path)


def test_killed_runs_partials_are_removed_but_a_live_writers_are_kept(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".short.mp4.0badf00d.partial.mp4", out / ".short.mp4.0badf00d.audio.partial.mp4"]
    for path in stale:
        path.write_bytes(b"half a video")
    live = out / ".short.mp4.1234abcd.partial.mp4"
    unrelated = out / ".other.mp4.0badf00d.partial.mp4"
    for path in (live, unrelated):
        path.write_bytes(b"busy")
    job = Job(short_clip, out / "short.mp4", Path("short.mp4"), kind="video")
    with live.open("rb") as handle, writer_lock(handle.fileno()):
        summary = colorize_video_jobs([job], colorizer, VideoSettings())
    assert len(summary.done) == 1
    assert not any(path.exists() for path in stale)
    assert live.read_bytes() == b"busy" and unrelated.read_bytes() == b"busy"


def test_partials_are_locked_while_written(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    seen: list[list[Path]] = []

    def sweep(progress: VideoProgress) -> None:
        # what another run would do mid-way: our partials must survive its sweep
        remove_stale_partials([tmp_path / "out.mp4"])
        seen.append(_leftovers(tmp_path))

    colorize_video(short_clip, tmp_path / "out.mp4", colorizer, batch_size=2, on_progress=sweep)
    assert seen and all(len(names) == 2 for names in seen)
    assert (tmp_path / "out.mp4").stat().st_size > 100
    assert not _leftovers(tmp_path)


def test_bad_arguments(short_clip: Path, colorizer: Colorizer, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"cannot write '\.gif' videos"):
        colorize_video(short_clip, tmp_path / "x.gif", colorizer)
    with pytest.raises(ValueError, match=r"temporal must be in \[0, 0.95\], got 1.5"):
        colorize_video(short_clip, tmp_path / "x.mp4", colorizer, temporal=1.5)
    with pytest.raises(VideoError, match="exceed --max-pixels 100"):
        colorize_video(short_clip, tmp_path / "x.mp4", colorizer, max_pixels=100)
    with pytest.raises(VideoError, match=r"cannot write \.webm videos"):
        writable_fourcc("webm")


# --- audio -----------------------------------------------------------------------------------


def test_without_ffmpeg_audio_is_dropped_and_said(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    result = colorize_video(short_clip, tmp_path / "out.mp4", colorizer)
    assert result.audio == "dropped"
    assert "no ffmpeg found" in result.audio_reason


def test_ffmpeg_is_looked_up_on_path_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setattr(video_audio.shutil, "which", lambda name: f"/opt/bin/{name}")
    assert video_audio.find_ffmpeg() == "/opt/bin/ffmpeg"


def _fake_ffmpeg(folder: Path) -> str:
    """A stand-in ffmpeg: says the source has audio; 'muxes' by copying the first input."""
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$#" -eq 4 ]; then echo "  Stream #0:1: Audio: aac, 44100 Hz" >&2; exit 1; fi\n'
        'for last; do :; done\ncp "$7" "$last"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_audio_is_muxed_in_when_ffmpeg_is_there(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_ffmpeg(tmp_path)
    monkeypatch.setattr(video_audio, "find_ffmpeg", lambda: fake)
    out = tmp_path / "out"
    out.mkdir()
    result = colorize_video(short_clip, out / "short.mp4", colorizer)
    assert (result.audio, result.audio_reason) == ("copied", "")
    assert len(read_video(out / "short.mp4")[0]) == 5
    assert not _leftovers(out)


def test_real_ffmpeg_copies_audio(
    colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        pytest.skip("no ffmpeg here")
    import subprocess

    silent = make_video(tmp_path / "silent.mp4")
    source = tmp_path / "talkie.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(silent), "-f", "lavfi", "-i", "sine=d=2",
         "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(source)],
        check=True,
    )  # fmt: skip
    result = colorize_video(source, tmp_path / "out.mp4", colorizer)
    assert result.audio == "copied"
    assert video_audio._has_audio(ffmpeg, tmp_path / "out.mp4")
    silent_result = colorize_video(silent, tmp_path / "quiet.mp4", colorizer)
    assert silent_result.audio == "none"


# --- planning ----------------------------------------------------------------------------------


def test_plan_jobs_picks_up_videos(tmp_path: Path, short_clip: Path) -> None:
    (tmp_path / "photo.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    plan = plan_jobs([tmp_path], tmp_path / "out", video_ext="mkv")
    by_name = {job.source.name: job for job in plan.jobs}
    assert by_name["short.mp4"].kind == "video"
    assert by_name["short.mp4"].output == tmp_path / "out" / "short.mkv"
    assert by_name["photo.png"].kind == "image"
    assert plan.ignored == 1
    assert Job(short_clip, short_clip, Path("x")).kind == "image"  # old callers keep working


def test_every_video_container_has_its_partials_recognised() -> None:
    for ext in VIDEO_OUTPUT_EXTENSIONS:
        for kind in ("", ".audio"):
            name = f".clip.{ext}.0123abcd{kind}.partial.{ext}"
            assert _PARTIAL_NAME.fullmatch(name) is not None, name


# --- a decoder that crashes ------------------------------------------------------------------


def _riff(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def uncompressed_avi(path: Path, *, size: tuple[int, int] = (64, 48), frames: int = 20) -> Path:
    """A hand-written, well-formed AVI of 24-bit uncompressed frames (BI_RGB 'DIB ').

    OpenCV 4.x's FFmpeg reader aborts the process on it (``malloc_consolidate(): invalid
    chunk size``, or SIGBUS/SIGSEGV): the hostile video of issue 16.
    """
    width, height = size
    frame_bytes = ((width * 3 + 3) & ~3) * height
    fps = 10
    avih = struct.pack(
        "<10I4I", 1_000_000 // fps, frame_bytes * fps, 0, 0x10, frames, 0, 1, frame_bytes,
        width, height, 0, 0, 0, 0,
    )  # fmt: skip
    strh = b"vidsDIB " + struct.pack(
        "<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, fps, 0, frames, frame_bytes, 0xFFFFFFFF, 0,
        0, 0, width, height,
    )  # fmt: skip
    strf = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, frame_bytes, 0, 0, 0, 0)
    strl = _riff(b"LIST", b"strl" + _riff(b"strh", strh) + _riff(b"strf", strf))
    hdrl = _riff(b"LIST", b"hdrl" + _riff(b"avih", avih) + strl)
    rng = np.random.default_rng(0)
    movi = b"".join(
        _riff(b"00db", rng.integers(0, 255, frame_bytes, dtype=np.uint8).tobytes())
        for _ in range(frames)
    )
    path.write_bytes(_riff(b"RIFF", b"AVI " + hdrl + _riff(b"LIST", b"movi" + movi)))
    return path


def test_a_video_that_crashes_opencv_costs_one_file(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    hostile = uncompressed_avi(tmp_path / "raw.avi")
    out = tmp_path / "out"
    jobs = [
        Job(hostile, out / "raw.mp4", Path("raw.avi"), kind="video"),
        Job(short_clip, out / "short.mp4", Path("short.mp4"), kind="video"),
    ]
    summary = colorize_video_jobs(jobs, colorizer, VideoSettings())  # this process lives on
    # whether OpenCV crashes on it depends on its build and thread count: either way
    # short.mp4 is done and raw.avi is done or failed with how the decoder died
    done = sorted(r.job.source for r in summary.done)
    assert done == sorted([short_clip] + ([] if summary.failed else [hostile]))
    assert len(summary.failed) <= 1
    for failed in summary.failed:  # an OpenCV that decodes it may colourize it instead
        assert failed.reason.startswith(f"{hostile}: the video decoder crashed (killed by SIG")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["short.mp4"] + ([] if summary.failed else ["raw.mp4"])
    )


def test_a_decoder_that_dies_fails_the_file_with_how_it_died(
    short_clip: Path, colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dying = tmp_path / "dying_decoder.py"
    dying.write_text(
        "import os, sys\n"
        "if sys.argv[-2] == 'frames':\n"
        '    sys.stdout.buffer.write(b\'{"width": 64, "height": 48, "fps": 12.0, \'\n'
        '                            b\'"frame_count": 5, "codec": "mp4v"}\\n\')\n'
        "    sys.stdout.flush()\n"
        "    sys.stderr.write('malloc_consolidate(): invalid chunk size\\n')\n"
        "    os.abort()\n"
    )
    monkeypatch.setattr(video_decoder, "_DECODER_SCRIPT", dying)
    out = tmp_path / "out"
    with pytest.raises(VideoError) as caught:
        colorize_video(short_clip, out / "short.mp4", colorizer)
    assert str(caught.value) == (
        f"{short_clip}: the video decoder crashed (killed by SIGABRT: malloc_consolidate(): "
        "invalid chunk size); the file is corrupt or made to crash decoders"
    )
    assert list(out.iterdir()) == []
