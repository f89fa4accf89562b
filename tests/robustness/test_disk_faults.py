"""Disk full and read-only outputs: a clear error per file, nothing partial left, inputs intact.

Two kinds of test: os-level faults injected in-process (run everywhere: ENOSPC on write or
fsync, EROFS on create or mkdir, EDQUOT on the final link), and real tiny tmpfs mounts, full
or read-only (run where ``mount`` is allowed, as root on CI; skipped elsewhere).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import pytest
from PIL import Image
from robustness_support import partials_under, snapshot, tmpfs
from typer.testing import CliRunner, Result

from colorcli.checkpoint import read_checkpoint, save_checkpoint
from colorcli.cli.app import app
from colorcli.errors import CheckpointError
from colorcli.imageio import read_image
from support import gray_picture, save_noise_photos

runner = CliRunner()


def _error(code: int, path: Any = None) -> OSError:
    """The OSError the kernel's ``code`` gives (with the file name, as ``open`` reports it)."""
    if path is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), os.fspath(path))


class _DiskFillsUp:
    """A file whose disk is full after ``room`` more bytes."""

    def __init__(self, file: IO[bytes], room: int) -> None:
        self._file = file
        self._room = room

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size > self._room:
            self._file.write(bytes(memoryview(data).cast("B")[: self._room]))
            self._room = 0
            raise _error(errno.ENOSPC)
        self._room -= size
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _DiskFillsUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


class Faults:
    """Install os-level faults that hit only our temporary files (``*.partial``).

    Args:
        monkeypatch: undoes everything after the test.
        names: only partial files whose name matches this pattern are hit.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: str = r".*") -> None:
        self.monkeypatch = monkeypatch
        self.names = re.compile(names)
        self.hits = 0

    def _ours(self, path: object) -> bool:
        name = os.path.basename(os.fsdecode(path))  # type: ignore[arg-type]
        return name.endswith(".partial") and self.names.search(name) is not None

    def on_create(self, code: int) -> None:
        """Creating a temporary file fails with ``code`` (EROFS, EACCES, ENOSPC, …)."""
        real_open = os.open

        def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_CREAT and self._ours(path):
                self.hits += 1
                raise _error(code, path)
            return real_open(path, flags, *args, **kwargs)

        self.monkeypatch.setattr(os, "open", fake_open)

    def on_write(self, room: int = 100) -> None:
        """The disk fills after ``room`` bytes of each temporary file."""
        real_open, real_fdopen = os.open, os.fdopen
        pending: set[int] = set()

        def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            descriptor = real_open(path, flags, *args, **kwargs)
            pending.discard(descriptor)
            if flags & os.O_CREAT and self._ours(path):
                pending.add(descriptor)
            return descriptor

        def fake_fdopen(descriptor: int, *args: Any, **kwargs: Any) -> Any:
            file = real_fdopen(descriptor, *args, **kwargs)
            if descriptor in pending:
                pending.discard(descriptor)
                self.hits += 1
                return _DiskFillsUp(file, room)
            return file

        self.monkeypatch.setattr(os, "open", fake_open)
        self.monkeypatch.setattr(os, "fdopen", fake_fdopen)

    def on_fsync(self, code: int) -> None:
        """Flushing to disk fails (delayed allocation: ENOSPC or EIO surface here)."""

        def fake_fsync(descriptor: int) -> None:
            self.hits += 1
            raise _error(code)

        self.monkeypatch.setattr(os, "fsync", fake_fsync)

    def on_link(self, code: int) -> None:
        """Publishing under the final name fails (no room for the directory entry, quota)."""

        def fake_link(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            self.hits += 1
            raise _error(code, target)

        self.monkeypatch.setattr(os, "link", fake_link)

    def on_mkdir(self, code: int, under: Path) -> None:
        """Creating a folder under ``under`` fails."""
        real_mkdir = os.mkdir

        def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if Path(os.fsdecode(path)).is_relative_to(under):
                self.hits += 1
                raise _error(code, path)
            real_mkdir(path, *args, **kwargs)

        self.monkeypatch.setattr(os, "mkdir", fake_mkdir)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Four inputs covering the writers: 8-bit PNG and JPEG, a 16-bit PNG, a sub-folder."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    gray_picture(40, 30, 1).save(folder / "a.png")
    gray_picture(33, 21, 2).save(folder / "b.jpg", quality=90)
    wide = (np.linspace(0, 65535, 24 * 18).reshape(18, 24)).astype(np.uint16)
    cv2.imwrite(str(folder / "c16.png"), np.dstack([wide] * 3))
    gray_picture(16, 16, 3).save(folder / "sub" / "d.png")
    return folder


def colorize(photos: Path, out: Path, model: Path, *extra: str) -> Result:
    return runner.invoke(
        app,
        [
            *("colorize", str(photos), "-o", str(out), "--model", str(model), "--size", "32"),
            *("--workers", "0", "-r", "-q", *extra),
        ],
    )


def failures(stderr: str) -> list[str]:
    """The lines of the closing ``Failures:`` list."""
    assert "Failures:" in stderr, stderr
    return [line.strip() for line in stderr.split("Failures:", 1)[1].splitlines() if line.strip()]


def check_every_file_failed(result: Result, photos: Path, *reasons: str) -> None:
    """Each of the 4 inputs is listed once among the failures, ending with one of ``reasons``."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "OSError" not in result.output
    assert "Summary: 0 done, 4 failed" in result.stdout, result.stdout
    lines = failures(result.stderr)
    assert len(lines) == 4, lines
    for source in ("a.png", "b.jpg", "c16.png", "sub/d.png"):
        matching = [line for line in lines if line.startswith(f"{photos / source}: ")]
        assert len(matching) == 1, (source, lines)
        assert matching[0].endswith(reasons), matching[0]


def outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file()) if out.exists() else []


FAULTS: dict[str, tuple[Callable[[Faults, Path], None], str]] = {
    "disk full while writing": (
        lambda faults, out: faults.on_write(room=100),
        "cannot write: No space left on device",
    ),
    "disk full at fsync": (
        lambda faults, out: faults.on_fsync(errno.ENOSPC),
        "cannot write: No space left on device",
    ),
    "I/O error at fsync": (
        lambda faults, out: faults.on_fsync(errno.EIO),
        "cannot write: Input/output error",
    ),
    "read-only folder": (
        lambda faults, out: faults.on_create(errno.EROFS),
        "cannot write: Read-only file system",
    ),
    "quota exceeded at the final link": (
        lambda faults, out: faults.on_link(errno.EDQUOT),
        "cannot write: Disk quota exceeded",
    ),
    "read-only file system, no output folder yet": (
        lambda faults, out: faults.on_mkdir(errno.EROFS, out),
        "cannot create folder (Read-only file system)",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_write_faults_fail_each_file_cleanly(
    fault: str, photos: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject, reason = FAULTS[fault]
    before = snapshot(photos)
    out = tmp_path / "out"
    faults = Faults(monkeypatch)
    inject(faults, out)
    extra = ["--ext", "png"] if fault == "disk full while writing" else []
    result = colorize(photos, out, tiny_model, *extra)
    monkeypatch.undo()
    assert faults.hits >= 4
    check_every_file_failed(result, photos, reason)
    assert outputs(out) == []
    assert partials_under(tmp_path) == []
    assert snapshot(photos) == before


def test_overwrite_on_a_full_disk_keeps_the_previous_outputs(
    photos: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert colorize(photos, out, tiny_model, "--ext", "png").exit_code == 0
    previous = snapshot(out)
    Faults(monkeypatch).on_write(room=100)
    result = colorize(photos, out, tiny_model, "--ext", "png", "--overwrite")
    monkeypatch.undo()
    check_every_file_failed(result, photos, "cannot write: No space left on device")
    assert snapshot(out) == previous
    assert partials_under(tmp_path) == []


def test_checkpoint_on_a_full_disk_is_a_checkpoint_error_and_keeps_the_old_file(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.pt"
    checkpoint = read_checkpoint(tiny_model)
    save_checkpoint(path, checkpoint)
    before = path.read_bytes()
    Faults(monkeypatch).on_write(room=1000)
    with pytest.raises(CheckpointError, match=r"model\.pt: cannot write: No space left on device"):
        save_checkpoint(path, {**checkpoint, "metrics": {"better": 1.0}})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert partials_under(tmp_path) == []


@pytest.fixture
def training_photos(tmp_path: Path) -> Path:
    return save_noise_photos(tmp_path / "data", train=8, val=4)


TRAIN = ["train", "--arch", "unet", "--width", "4", "--depth", "2", "--size", "16"]
TRAIN += ["--batch-size", "4", "--workers", "0", "--device", "cpu", "--val-limit", "4"]


def test_train_on_a_full_disk_is_one_clear_error(
    training_photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    first = runner.invoke(
        app, [*TRAIN, "--epochs", "1", "--data", str(training_photos), "--out", str(run)]
    )
    assert first.exit_code == 0, first.output
    saved = (run / "last.pt").read_bytes()
    Faults(monkeypatch, names=r"^\.(last|best)\.pt\.").on_write(room=4096)
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--epochs", "2"])
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(
        rf"Error: {re.escape(str(run))}/(best|last)\.pt: cannot write: No space left on device",
        lines[0],
    ), lines[0]
    assert (run / "last.pt").read_bytes() == saved
    assert partials_under(tmp_path) == []


# ------------------------------------------------------------------ real tmpfs mounts


def _noise_folder(folder: Path, count: int, side: int) -> Path:
    """Incompressible gray pictures (their colourized PNGs are about 3 * side² bytes)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for index in range(count):
        pixels = rng.integers(0, 256, (side, side), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"noise{index:02d}.png")
    return folder


def test_a_full_tmpfs_fails_the_files_that_do_not_fit_then_a_rerun_finishes(
    tiny_model: Path, tmp_path: Path
) -> None:
    photos = _noise_folder(tmp_path / "photos", 8, 64)
    with tmpfs(tmp_path / "mnt", "48k") as mount:
        out = mount / "out"
        result = colorize(photos, out, tiny_model)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and "OSError" not in result.output
        done = outputs(out)
        lines = failures(result.stderr)
        assert 0 < len(done) < 8 and len(done) + len(lines) == 8, (done, lines)
        assert all(line.endswith("cannot write: No space left on device") for line in lines)
        for path in done:
            assert read_image(path).size == (64, 64)
        assert partials_under(mount) == []
        finished = {path: path.stat().st_mtime_ns for path in done}
        mounted = os.system(f"mount -o remount,size=2m '{mount}'")
        assert mounted == 0
        again = colorize(photos, out, tiny_model)
        assert again.exit_code == 0, again.output
        assert f"{8 - len(done)} done, {len(done)} skipped (output exists)" in again.stdout
        assert {path: path.stat().st_mtime_ns for path in done} == finished
        assert len(outputs(out)) == 8
        assert partials_under(mount) == []


def _tiny_video(path: Path) -> bool:
    writer = cv2.VideoWriter(
        str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"MJPG"), 8, (32, 24)
    )
    if not writer.isOpened():
        return False
    for index in range(4):
        writer.write(np.full((24, 32, 3), 40 * index, np.uint8))
    writer.release()
    return True


def test_a_read_only_tmpfs_fails_every_file_with_a_clear_reason(
    photos: Path, tiny_model: Path, tmp_path: Path
) -> None:
    with_video = _tiny_video(tmp_path / "clip.avi")
    with tmpfs(tmp_path / "mnt", "1m", read_only=True) as mount:
        new_folder = colorize(photos, mount / "out", tiny_model)
        check_every_file_failed(new_folder, photos, "cannot create folder (Read-only file system)")
        existing_folder = colorize(photos, mount, tiny_model)
        check_every_file_failed(
            existing_folder,
            photos,
            "cannot write: Read-only file system",
            "cannot create folder (Read-only file system)",  # sub/d.png
        )
        if with_video:  # a video's writer fails too, as a failure line, not a traceback
            video = runner.invoke(
                app,
                [
                    "colorize",
                    str(tmp_path / "clip.avi"),
                    "-o",
                    str(mount),
                    "--model",
                    str(tiny_model),
                    "-q",
                ],
            )
            assert video.exit_code == 1, video.output
            assert "Traceback" not in video.output
            assert failures(video.stderr) == [
                f"{tmp_path / 'clip.avi'}: {mount / 'clip.mp4'}: "
                "cannot write (Read-only file system)"
            ]
        assert list(mount.iterdir()) == []


def test_train_into_a_full_tmpfs_is_one_clear_error(training_photos: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "64k") as mount:
        result = runner.invoke(
            app,
            [*TRAIN, "--epochs", "1", "--data", str(training_photos), "--out", str(mount / "run")],
        )
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1 and lines[0].endswith("cannot write: No space left on device"), (
            result.stderr
        )
        assert partials_under(mount) == []
        if (mount / "run" / "last.pt").exists():
            read_checkpoint(mount / "run" / "last.pt")


def test_mount_helper_really_mounts(tmp_path: Path) -> None:
    """The tmpfs tests above test a real full or read-only file system, not a folder."""
    with tmpfs(tmp_path / "mnt", "16k") as mount:
        with pytest.raises(OSError) as full:
            (mount / "big").write_bytes(b"x" * 65536)
        assert full.value.errno == errno.ENOSPC
    with tmpfs(tmp_path / "ro", "16k", read_only=True) as mount:
        with pytest.raises(OSError) as read_only:
            (mount / "x").write_bytes(b"x")
        assert read_only.value.errno == errno.EROFS


@pytest.mark.slow
def test_a_batch_with_a_fifo_a_hostile_video_and_a_disk_full_halfway(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Issue 16's closing case: 200 photos, one FIFO, one AVI that crashes OpenCV's reader,
    into a tmpfs that fills up about halfway. Every good file is done or fails for lack of
    space, every bad one is named, and every output under its final name reads back."""
    from test_video import uncompressed_avi

    photos = _noise_folder(tmp_path / "photos", 200, 32)
    os.mkfifo(photos / "pipe.png")
    uncompressed_avi(photos / "raw.avi")
    with tmpfs(tmp_path / "mnt", "420k") as mount:
        out = mount / "out"
        result = colorize(photos, out, tiny_model)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        lines = failures(result.stderr)
        assert any(line.startswith(f"{photos / 'pipe.png'}: ") for line in lines), lines
        named_avi = any(line.startswith(f"{photos / 'raw.avi'}: ") for line in lines)
        done = outputs(out)
        assert named_avi or out / "raw.mp4" in done
        full = [line for line in lines if line.endswith("No space left on device")]
        assert full and len(done) >= 50, (len(done), lines[:5])
        photos_done = [path for path in done if path.suffix == ".png"]
        assert len(photos_done) + len(full) >= 200 - 1  # the AVI may be among the full ones
        for path in photos_done:
            assert read_image(path).size == (32, 32)
        assert partials_under(mount) == []
