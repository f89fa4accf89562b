"""Shared fixtures: every test runs with user directories pointed at its own tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from support import gray_picture, save_tiny_checkpoint


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("COLORCLI_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.delenv("COLORCLI_WEIGHTS_URL", raising=False)
    yield


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


def _test_threads() -> int:
    """torch threads for the tests: ``OMP_NUM_THREADS`` (CI runs 1 and 2), else 1.

    Tiny test tensors run fastest on one thread; CI also runs 2 so that no test depends on
    the thread count.
    """
    setting = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(setting) if setting.isdigit() and int(setting) > 0 else 1


@pytest.fixture(autouse=True)
def _torch_threads() -> Iterator[None]:
    """Every test starts on the chosen thread count, whatever the one before it set."""
    threads = torch.get_num_threads()
    torch.set_num_threads(_test_threads())
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A random-weight ``unet`` small enough to run instantly (ab is non-zero)."""
    return save_tiny_checkpoint(tmp_path / "tiny.pt")


@pytest.fixture(name="gray_image")
def gray_image_factory():
    """The :func:`support.gray_picture` factory."""
    return gray_picture


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
