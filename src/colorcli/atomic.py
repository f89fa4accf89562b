"""Write files atomically: a hidden ``.partial`` sibling, flushed to disk, then renamed.

A writer holds an exclusive ``flock`` on its partial file until it is moved into place (see
:func:`writer_lock`), so :func:`remove_stale_partials` can tell the leftovers of a killed run
(nobody holds them: the kernel drops the lock with the process) from files another run is
still writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no flock; stale partials are then removed unconditionally
    fcntl = None  # type: ignore[assignment]

PARTIAL_NAME_BYTES = 200
"""Bytes of the target's name kept in a partial name (the rest of 255 is ours)."""

# images: .<name>.<token>.partial; videos add ".audio" (muxed copy) and their container's
# extension (colorcli.jobs.VIDEO_OUTPUT_EXTENSIONS), as colorcli.video names them
_PARTIAL_NAME = re.compile(
    r"\.(?P<name>.+)\.[0-9a-f]{8}(?:(?:\.audio)?\.partial\.(?:mp4|mkv|mov|avi)|\.partial)"
)


def short_name(name: str) -> str:
    """``name`` cut to at most :data:`PARTIAL_NAME_BYTES` bytes on disk, at a character boundary.

    Cutting characters rather than bytes would let a long non-ASCII name (up to 4 bytes a
    character) make a temporary name over the file system's 255-byte limit.
    """
    cut = name[:PARTIAL_NAME_BYTES]
    while len(os.fsencode(cut)) > PARTIAL_NAME_BYTES:
        cut = cut[:-1]
    return cut


def partial_path(path: Path) -> Path:
    """A fresh hidden temporary name next to ``path`` (same folder, so the rename is atomic).

    The name is ``.<name>.<8 hex digits>.partial`` (``<name>`` cut by :func:`short_name`).
    """
    return path.parent / f".{short_name(path.name)}.{secrets.token_hex(4)}.partial"


@contextlib.contextmanager
def writer_lock(descriptor: int) -> Iterator[None]:
    """Hold a lock on the open partial file ``descriptor`` until the block ends.

    The lock lives on a duplicate descriptor, so it outlasts closing the file: keep the block
    around the final rename. The kernel drops it if the process dies.
    """
    guard = os.dup(descriptor)
    try:
        if fcntl is not None:
            # A file system without locks only weakens remove_stale_partials' check.
            with contextlib.suppress(OSError):
                fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(guard)


def remove_stale_partials(targets: Iterable[Path]) -> list[Path]:
    """Delete the partial files that killed writers of ``targets`` left behind.

    Only names of exactly the form :func:`partial_path` makes for one of ``targets``, in the
    target's own folder, are candidates; a candidate another process is still writing (it
    holds the lock of :func:`writer_lock`) is left alone. Each folder is listed once.

    Returns:
        The files removed.
    """
    wanted: dict[Path, set[str]] = {}
    for target in targets:
        wanted.setdefault(target.parent, set()).add(short_name(target.name))
    removed: list[Path] = []
    for folder, names in wanted.items():
        try:
            with os.scandir(folder) as listing:
                entries = [entry.name for entry in listing]
        except OSError:  # a folder not made yet (or unreadable) has nothing of ours to clean
            continue
        for entry in entries:
            match = _PARTIAL_NAME.fullmatch(entry)
            if match is not None and match["name"] in names:
                candidate = folder / entry
                if _remove_if_unlocked(candidate):
                    removed.append(candidate)
    return removed


def _remove_if_unlocked(path: Path) -> bool:
    # O_NONBLOCK: opening a FIFO planted under such a name must not hang the run
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:  # gone already, or a symlink: not a file we wrote
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a live writer holds it
            except OSError:
                pass  # no locks on this file system: the name alone decides
        try:
            path.unlink()
        except OSError:  # best effort: a leftover we cannot delete only costs space
            return False
        return True
    finally:
        os.close(descriptor)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(stream)`` on a temporary file, fsync it and move it over ``path``.

    The file gets the usual permissions (0666 less the umask). On any failure the temporary
    file is removed and ``path`` is left as it was.

    Raises:
        OSError: the folder cannot be made, or writing failed (disk full, read-only, …).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    stream = os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")
    try:
        with writer_lock(stream.fileno()):
            with stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
    except BaseException:
        stream.close()
        with contextlib.suppress(OSError):  # never hide the error that got us here
            temporary.unlink()
        raise


# errno values meaning "this filesystem has no hard links" (FAT, some FUSE and network mounts).
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
)


def move_into_place(partial: Path, path: Path, *, overwrite: bool) -> None:
    """Give the finished ``partial`` file its final name ``path``.

    With ``overwrite`` the rename replaces any existing file. Without it an existing ``path``
    is never clobbered, even in a race: the file is hard-linked (which fails if the name
    exists) and the caller removes ``partial`` afterwards; where hard links are unsupported
    it falls back to check-then-rename, which leaves a tiny race window.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    if overwrite:
        os.replace(partial, path)
        return
    try:
        os.link(partial, path)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "already exists", str(path)) from error
        os.replace(partial, path)


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk, best effort (some file systems cannot sync folders)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
