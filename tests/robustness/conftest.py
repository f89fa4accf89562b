"""Fixtures of the robustness tests: one tiny random checkpoint per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import save_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a random-weight unet checkpoint small enough to run instantly."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")
