"""``colorcli train`` through CliRunner: help, a full run, resume, errors."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import typer
from typer.testing import CliRunner

from colorcli.checkpoint import load_model, read_checkpoint
from colorcli.cli import train as train_cli
from colorcli.cli.app import app
from colorcli.errors import UsageError
from colorcli.models import list_models
from colorcli.training import TrainConfig, read_training_state
from support import tiny_run_flags

runner = CliRunner()

TINY = ["train", "--arch", "tiny", "--width", "4", *tiny_run_flags(batch_size=4)]


def test_help_lists_every_architecture_and_head():
    result = runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in list_models():
        assert name in result.output, name
    for head in ("regression", "palette", "gamut"):
        assert head in result.output
    for flag in ("--colors", "--resume", "--max-minutes", "--export", "--init-from", "--amp"):
        assert flag in result.output


def test_options_and_config_fields_agree_both_ways():
    """Each field is an option named as the config's errors name it (or TOML only), and back."""
    command = typer.main.get_command(app).commands["train"]
    options = {p.name: p.opts for p in command.params if p.param_type_name == "option"}
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    flagged = fields - train_cli.TOML_ONLY
    assert train_cli.TOML_ONLY.issubset(fields)
    assert set(options) - {"resume", "config", "help"} == flagged
    for name in flagged:
        assert "--" + name.replace("_", "-") in options[name], name


def test_only_the_flags_given_reach_the_config(monkeypatch):
    seen = {}

    def stop_at_the_config(settings, *, config_file=None):
        seen.update(settings)
        raise UsageError("stopped here")

    monkeypatch.setattr(train_cli, "build_config", stop_at_the_config)
    args = ["train", "--arch", "tiny", "--no-augment", "--classes", "cat,dog", "--lr", "0.01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert seen == {"arch": "tiny", "augment": False, "classes": "cat,dog", "lr": 0.01}
    assert type(seen["arch"]) is str  # the choice's value, not the enum member


def test_unknown_architecture_fails_at_parse_time():
    result = runner.invoke(app, ["train", "--arch", "unnet"])
    assert result.exit_code == 2
    assert "unnet" in result.output


def test_run_writes_everything_and_loads(image_folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    args = [*TINY, "--colors", "4", "--data", str(image_folder), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["/usr/bin/colorcli", *args])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "loss_curve.png"):
        assert (out / name).is_file(), name
    assert (out / "samples" / "epoch_001.png").is_file()
    assert "best val_loss " in result.stdout
    assert f"last: {out / 'last.pt'}" in result.stdout
    assert "epoch 1: train loss" in result.stderr
    model = load_model(out / "best.pt")
    assert model.is_classifier and model.head.centres.shape == (4, 2)
    assert model.head.centres.abs().sum() > 0
    summary = read_checkpoint(out / "last.pt")["training"]
    assert summary["command"].startswith("colorcli train --arch tiny")
    assert "--colors 4" in summary["command"]


def test_demo_run_says_so_first(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("No --data given: a short demonstration")
    assert "--data" in first


def test_resume_with_out_and_with_path(image_folder, tmp_path):
    out = tmp_path / "run"
    base = [*TINY, "--data", str(image_folder), "--epochs", "2"]
    first = runner.invoke(app, [*base, "--out", str(out), "--max-steps", "1"])
    assert first.exit_code == 0, first.output
    assert "max steps" in first.stdout
    assert f"continue with: colorcli train --resume {out}" in first.stdout
    second = runner.invoke(app, ["train", "--resume", "--out", str(out), "--max-steps", "3"])
    assert second.exit_code == 0, second.output
    assert read_training_state(out / "last.pt")["step"] == 3
    third = runner.invoke(app, ["train", "--resume", str(out / "last.pt")])
    assert third.exit_code == 0, third.output
    state = read_training_state(out / "last.pt")
    assert state["step"] == 4 and state["epoch"] == 2
    assert len(state["model"]["training"]["sessions"]) == 3


def test_resume_without_a_run_is_an_error(tmp_path):
    result = runner.invoke(app, ["train", "--resume", "--out", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tmp_path / 'none'}: no such run folder or checkpoint to resume\n"
    )
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'empty'}: no last.pt in this folder to resume\n"


def test_path_argument_needs_resume(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path)])
    assert result.exit_code == 2
    assert "a PATH only goes with --resume" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "tiny", "--depth", "3"], "--depth does not apply to --arch tiny"),
        (["--colors", "one"], "--colors must be a number of colours"),
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--amp", "fp16", "--device", "cpu"], "--amp fp16 needs a CUDA device"),
    ],
)
def test_bad_settings_are_usage_errors(args, message, tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr.replace("\n", " ")


@pytest.mark.parametrize("size", ["1", "7"])
def test_tiny_size_is_a_usage_error_that_writes_nothing(size, image_folder, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--size", size, "--data", str(image_folder), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: --size must be an integer >= 8, got {size}\n"
    assert not out.exists()


def test_config_file_with_flags_winning(image_folder, tmp_path):
    config = tmp_path / "train.toml"
    config.write_text(
        f'arch = "tiny"\nwidth = 4\nsize = 16\nbatch-size = 4\nepochs = 3\nworkers = 0\n'
        f'data = "{image_folder}"\ndevice = "cpu"\nval_limit = 4\n'
    )
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--config", str(config), "--epochs", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = read_training_state(out / "last.pt")["config"]
    assert saved["epochs"] == 1 and saved["batch_size"] == 4 and saved["arch"] == "tiny"


def test_config_file_unknown_key(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text("batchsize = 4\n")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown setting(s) batchsize" in result.stderr


def test_export_flag(image_folder, tmp_path):
    export = tmp_path / "slim.pt"
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [*TINY, "--data", str(image_folder), "--out", str(out), "--export", str(export)],
    )
    assert result.exit_code == 0, result.output
    assert f"exported: {export}" in result.stdout
    assert load_model(export).arch == "tiny"


def test_corrupt_image_is_reported(image_folder, tmp_path):
    (image_folder / "train" / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--data", str(image_folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped 1 unreadable image(s)" in result.stdout
    assert "zz_broken.jpg" in result.stderr
