"""Fixtures for CLI tests: a folder of small gray photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import gray_picture


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Three small gray photos (jpg, png, jpg) in ``photos/``."""
    folder = tmp_path / "photos"
    folder.mkdir()
    gray_picture(40, 30, 1).save(folder / "a.jpg", quality=90)
    gray_picture(33, 47, 2).save(folder / "b.png")
    gray_picture(64, 48, 3).convert("RGB").save(folder / "c.jpg", quality=90)
    return folder
