"""Ctrl-C during ``colorize`` (issue 16 item 4): the run ends soon, says what it did, exit 130."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import colorcli.runner as runner_module
from colorcli.cli.app import app


def test_ctrl_c_prints_the_summary_and_exits_130(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "CANCEL_WAIT", 0.5)
    release = threading.Event()
    real_read = runner_module.read_image

    def read(path: Path, **options: object):
        if path.name == "c.jpg":  # the last photo: a signal from this worker, then a hang
            os.kill(os.getpid(), signal.SIGINT)
            release.wait(30)
        return real_read(path, **options)

    monkeypatch.setattr(runner_module, "read_image", read)
    out = tmp_path / "out"
    args = [photo_folder, "-o", out, "--model", tiny_checkpoint, "-b", "1", "--workers", "1"]
    try:
        result = CliRunner().invoke(app, ["colorize", *map(str, args), "-q"])
    finally:
        release.set()
    assert result.exit_code == 130, result.output
    summary = " ".join(result.stdout.split())
    assert "Summary: " in summary and "not done (interrupted)" in summary
    assert "interrupted: run the same command again to do the rest" in result.stderr
    assert "Traceback" not in result.output
    assert not (out / "c.jpg").exists()
