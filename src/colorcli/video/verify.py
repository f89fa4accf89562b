"""Publish a written video only when it reads back whole; hold its partial files meanwhile."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from colorcli.atomic import move_into_place, partial_path, writer_lock
from colorcli.errors import VideoError
from colorcli.video.decoder import _open_decoder


@contextlib.contextmanager
def _locked_new_file(path: Path) -> Iterator[None]:
    """Create ``path`` (it must not exist) and hold its writer lock until the block ends.

    The encoder and ffmpeg later open the same name and write the same inode, so the lock
    tells :func:`colorcli.atomic.remove_stale_partials` of another run that it is live.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with writer_lock(descriptor):
            os.close(descriptor)
            descriptor = -1
            yield
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def _publish(partial: Path, path: Path, *, overwrite: bool) -> None:
    try:
        move_into_place(partial, path, overwrite=overwrite)
    except FileExistsError as error:
        raise VideoError(f"{path}: already exists") from error


def _written_frames(path: Path) -> int | None:
    """Frames ``path`` declares (0: it does not say), None when it does not open as a video."""
    try:
        decoder, info = _open_decoder(path, "info")
    except VideoError:
        return None
    decoder.close()
    return info.frame_count


def _verify_written(path: Path, output: Path, frames: int) -> None:
    """Refuse to publish ``path`` unless it reads back as a video of ``frames`` frames.

    OpenCV's writer reports no error: a full disk or quota only shows as a file that does
    not open (no ``moov`` atom) or holds fewer frames.

    Raises:
        VideoError: naming ``output`` and the reason (the file system's, when it has one).
    """
    written = _written_frames(path)
    if written is not None and written in (0, frames):
        return
    space = _space_problem(output)
    if written is None:
        reason = space or "unreadable: the encoder's file is truncated or corrupt"
        raise VideoError(f"{output}: the written video cannot be read back ({reason})")
    raise VideoError(
        f"{output}: the encoder wrote {written} of {frames} frames"
        + (f" ({space})" if space else "")
    )


_SPACE_PROBE_BYTES = 1 << 20


def _space_problem(output: Path) -> str:
    """Why a file cannot grow next to ``output`` (e.g. ``No space left on device``), or ''.

    Writes and removes a 1 MiB file named like a partial of ``output`` (so a killed run's
    clean-up finds it): the encoder failed somewhere below that, so a full disk or an
    exhausted quota shows here in the file system's own words.
    """
    probe = partial_path(output)
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        return error.strerror or str(error)
    try:
        block = memoryview(bytes(_SPACE_PROBE_BYTES))
        while block:  # a short write is how a nearly full disk first answers
            written = os.write(descriptor, block)
            if written == 0:
                return os.strerror(errno.ENOSPC)
            block = block[written:]
        os.fsync(descriptor)
    except OSError as error:
        return error.strerror or str(error)
    finally:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    return ""
