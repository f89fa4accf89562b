"""Helpers of the robustness tests: tiny models and pictures, file-tree snapshots, mounts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PARTIAL_GLOB = ".*.partial"
"""Our temporary files: ``.<name>.<8 hex>.partial`` (see :mod:`colorcli.atomic`)."""


def snapshot(root: Path) -> dict[Path, tuple[str, str]]:
    """Every entry under ``root`` (not following links): its kind and content hash or target."""
    entries: dict[Path, tuple[str, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                entries[path] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[path] = ("dir", "")
            else:
                entries[path] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return entries


def partials_under(root: Path) -> list[Path]:
    """Temporary files of ours anywhere under ``root``."""
    return sorted(root.rglob(PARTIAL_GLOB))


def child_env() -> dict[str, str]:
    """Environment of a ``python -m colorcli`` child: one thread, no colour codes."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NO_COLOR="1", TERM="dumb")
    env["COLUMNS"] = "200"
    return env


def colorcli_command(*args: str | Path) -> list[str]:
    """The argv of ``python -m colorcli ARGS`` with this interpreter."""
    return [sys.executable, "-m", "colorcli", *map(str, args)]


def process_rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_descriptors(pid: int) -> int:
    """Open file descriptors of process ``pid`` (Linux ``/proc``)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` for the block; skip the test where we cannot."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot mount a tmpfs here: {error}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
