"""Hostile and broken checkpoints: refused with one clear CheckpointError, never run, never a crash.

Through the library (read_checkpoint, model_from_checkpoint, load_model, read_training_state)
and through the CLI (``colorize --model``, ``train --resume``): exit 1, one ``Error:`` line.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from colorcli.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    load_model,
    model_from_checkpoint,
    read_checkpoint,
)
from colorcli.cli.app import app
from colorcli.errors import CheckpointError
from colorcli.training import read_training_state
from support import gray_picture

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")


class _RunsCode:
    """Unpickling this calls ``os.system`` (what a hostile checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The file a hostile pickle would create if it ever ran."""
    return tmp_path / "pwned"


@pytest.fixture
def good(tiny_model: Path) -> dict[str, Any]:
    return torch.load(tiny_model, weights_only=True)


def _hostile_files(folder: Path, marker: Path, good: dict[str, Any]) -> dict[str, Path]:
    """Checkpoints that would run ``os.system`` on a plain ``torch.load``."""
    evil = _RunsCode(marker)
    files = {
        "torch.save": (folder / "evil.pt", lambda p: torch.save({"x": evil}, p)),
        "raw pickle": (folder / "evil.pkl", lambda p: p.write_bytes(pickle.dumps(evil))),
        "inside a valid checkpoint": (
            folder / "trojan.pt",
            lambda p: torch.save({**good, "training": {"note": evil}}, p),
        ),
        "inside a training checkpoint": (
            folder / "last.pt",
            lambda p: torch.save(
                {"model": good, "optimizer": {}, "epoch": 0, "step": 0, "config": evil}, p
            ),
        ),
    }
    for path, write in files.values():
        write(path)
    return {name: path for name, (path, _) in files.items()}


def test_pickles_that_run_code_are_refused_and_never_run(
    tmp_path: Path, marker: Path, good: dict[str, Any]
) -> None:
    for name, path in _hostile_files(tmp_path, marker, good).items():
        for load in (read_checkpoint, load_model, read_training_state):
            with pytest.raises(CheckpointError, match="refused: not a plain weights checkpoint"):
                load(path)
        assert not marker.exists(), name
    # the refusal says what was refused, not only torch's general advice
    with pytest.raises(CheckpointError, match=r"GLOBAL posix\.system"):
        read_checkpoint(tmp_path / "evil.pt")
    # the same bytes really are hostile: a plain unpickle runs them
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def _edit(good: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**good, **changes}


def _weights(good: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    state = dict(good["state_dict"])
    change(state)
    return {**good, "state_dict": state}


_FIRST = "body.stem.0.0.weight"

BROKEN: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "missing key": (
        lambda g: _weights(g, lambda s: s.pop(_FIRST)),
        rf"weights do not match 'unet': missing 1 key\(s\) e\.g\. {_FIRST}",
    ),
    "extra key": (
        lambda g: _weights(g, lambda s: s.update(extra=torch.zeros(1))),
        r"weights do not match 'unet': unexpected 1 key\(s\) e\.g\. extra",
    ),
    "wrong shape": (
        lambda g: _weights(g, lambda s: s.update({_FIRST: torch.zeros(8, 1, 3, 3)})),
        rf"{_FIRST} has shape \(8, 1, 3, 3\), expected \(4, 1, 3, 3\)",
    ),
    "wrong dtype": (
        lambda g: _weights(g, lambda s: s.update({_FIRST: s[_FIRST].to(torch.complex64)})),
        rf"{_FIRST} is torch\.complex64, expected torch\.float32",
    ),
    "not a tensor": (
        lambda g: _weights(g, lambda s: s.update({_FIRST: [1.0, 2.0]})),
        rf"{_FIRST} has shape list",
    ),
    "NaN weights": (
        lambda g: _weights(g, lambda s: s.update({_FIRST: s[_FIRST] * float("nan")})),
        rf"{_FIRST} holds NaN or infinite weights",
    ),
    "unknown architecture": (
        lambda g: _edit(g, arch="unet9000"),
        r"unknown architecture 'unet9000'; this colorcli knows .*unet",
    ),
    "architecture of another shape": (
        lambda g: _edit(g, arch="tiny"),
        r"bad model configuration: .*'tiny'",
    ),
    "architecture not a name": (
        lambda g: _edit(g, arch=["unet"]),
        r"unknown architecture \['unet'\]",
    ),
    "configuration not a dict": (
        lambda g: _edit(g, config=[1, 2]),
        r"bad model configuration: \[1, 2\]",
    ),
    "unknown configuration key": (
        lambda g: _edit(g, config={**g["config"], "layers_of_doom": 3}),
        r"bad model configuration: .*layers_of_doom",
    ),
    "state_dict not a dict": (lambda g: _edit(g, state_dict=[1]), "state_dict is not a dict"),
    "version not a number": (
        lambda g: _edit(g, version="1"),
        "checkpoint version is not a number: '1'",
    ),
    "newer version": (lambda g: _edit(g, version=99), "checkpoint version 99 is newer"),
    "inference size not a number": (
        lambda g: _edit(g, inference_size="big"),
        "bad inference_size 'big'",
    ),
    "inference saturation out of range": (
        lambda g: _edit(g, inference_saturation=-1.0),
        "bad inference_saturation -1.0",
    ),
    "not a colorcli checkpoint": (
        lambda g: {"weights": g["state_dict"]},
        r"not a colorcli checkpoint \(missing format, version, arch, config, state_dict\)",
    ),
    "a bare tensor": (lambda g: torch.zeros(3), r"not a colorcli checkpoint \(got Tensor\)"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_checkpoints_say_what_is_wrong(
    case: str, tmp_path: Path, good: dict[str, Any]
) -> None:
    make, message = BROKEN[case]
    path = tmp_path / "broken.pt"
    torch.save(make(good), path)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_model(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.5, 0.99])
def test_truncated_checkpoints_are_refused(keep: float, tmp_path: Path, tiny_model: Path) -> None:
    data = tiny_model.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * keep)])
    expected = "checkpoint is empty" if keep == 0 else "truncated or corrupt|refused"
    with pytest.raises(CheckpointError, match=expected):
        read_checkpoint(path)


def test_oversized_checkpoint_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.pt"
    with path.open("wb") as file:
        file.truncate(MAX_CHECKPOINT_BYTES + 1)  # sparse: no disk used, and never read
    with pytest.raises(CheckpointError, match=r"checkpoint is 2\.1 GB, over the 2\.1 GB limit"):
        read_checkpoint(path)


def test_training_checkpoint_with_wrong_types_is_refused(
    tmp_path: Path, good: dict[str, Any]
) -> None:
    state = {"model": good, "optimizer": {}, "epoch": 1, "step": 2, "config": {}}
    for key, value in (("config", "x"), ("model", 5), ("step", "2"), ("history", 5)):
        path = tmp_path / f"{key}.pt"
        torch.save({**state, key: value}, path)
        with pytest.raises(CheckpointError, match=f"corrupt training checkpoint: {key} is"):
            read_training_state(path)
    path = tmp_path / "model-without-arch.pt"
    torch.save({**state, "model": {"state_dict": {}}}, path)
    with pytest.raises(CheckpointError, match="no architecture name"):
        model_from_checkpoint(read_training_state(path)["model"], source=str(path))


# ------------------------------------------------------------------------------------ CLI


def _one_error_line(stderr: str, path: Path) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"Error: {path}: "), stderr
    return lines[0]


def test_cli_colorize_refuses_every_bad_model_in_one_line(
    tmp_path: Path, marker: Path, good: dict[str, Any]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    gray_picture(24, 16).save(photos / "a.png")
    bad = _hostile_files(tmp_path, marker, good)
    for case in ("wrong shape", "unknown architecture", "NaN weights", "version not a number"):
        bad[case] = tmp_path / f"{case}.pt"
        torch.save(BROKEN[case][0](good), bad[case])
    bad["truncated"] = tmp_path / "cut.pt"
    bad["truncated"].write_bytes(bad["wrong shape"].read_bytes()[:500])
    bad["oversized"] = tmp_path / "huge.pt"
    with bad["oversized"].open("wb") as file:
        file.truncate(MAX_CHECKPOINT_BYTES + 1)
    out = tmp_path / "out"
    for case, path in bad.items():
        result = runner.invoke(app, ["colorize", str(photos), "-o", str(out), "--model", str(path)])
        assert result.exit_code == 1, (case, result.output)
        assert isinstance(result.exception, SystemExit), (case, result.exception)
        _one_error_line(result.stderr, path)
        assert "Traceback" not in result.output
        assert not marker.exists(), case
        assert not out.exists() or not any(out.iterdir()), case


def test_cli_train_resume_refuses_a_hostile_run_folder(
    tmp_path: Path, marker: Path, good: dict[str, Any]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    hostile = _hostile_files(tmp_path, marker, good)["inside a training checkpoint"]
    hostile.rename(run / "last.pt")
    result = runner.invoke(app, ["train", "--resume", "--out", str(run)])
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.stderr, run / "last.pt")
    assert "refused: not a plain weights checkpoint" in line
    assert not marker.exists()
