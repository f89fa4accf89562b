"""Helpers of the robustness tests: tiny models and pictures, file-tree snapshots, mounts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.models import get_model

PARTIAL_GLOB = ".*.partial"
"""Our temporary files: ``.<name>.<8 hex>.partial`` (see :mod:`colorcli.atomic`)."""


def save_tiny_checkpoint(path: Path) -> Path:
    """A random-weight unet (width 4, depth 2) whose head bias makes the ab non-zero."""
    torch.manual_seed(0)
    model = get_model("unet", width=4, depth=2)
    with torch.no_grad():
        model.head.conv.bias.copy_(torch.tensor([0.2, 0.3]))
    save_checkpoint(path, checkpoint_from_model(model, training={"note": "random weights"}))
    return path


def gray_picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth grayscale picture (gradient plus noise), mode L."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width)[None, :] + np.linspace(0, 50, height)[:, None]
    pixels = np.clip(ramp + rng.normal(0, 5, (height, width)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


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
