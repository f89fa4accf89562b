"""TrainConfig: defaults, validation, TOML files, precedence and resume rules."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from colorcli.errors import UsageError
from colorcli.training import TrainConfig, build_config, load_config_file, parse_colors
from colorcli.training.config import config_from_dict


def test_defaults_are_valid_and_saved_plainly():
    config = TrainConfig()
    assert config.arch == "unet" and config.colors is None and config.schedule == "onecycle"
    saved = config.as_dict()
    assert config_from_dict(saved) == config
    # plain values only: loadable with weights_only
    path_like = [
        k for k, v in saved.items() if not isinstance(v, (str, int, float, bool, type(None)))
    ]
    assert path_like == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("regression", None), ("gamut", "gamut"), ("16", 16), (32, 32)],
)
def test_parse_colors(value, expected):
    assert parse_colors(value) == expected


@pytest.mark.parametrize("value", ["1", "many", 1, True])
def test_parse_colors_refuses(value):
    with pytest.raises(UsageError, match="--colors"):
        parse_colors(value)


def test_body_options_only_for_the_architecture():
    config = TrainConfig(arch="unet", width=8, depth=2, output_stride=2)
    assert config.body_config() == {"width": 8, "depth": 2, "output_stride": 2}
    with pytest.raises(UsageError, match=r"--hidden does not apply to --arch unet \(its options:"):
        TrainConfig(arch="unet", hidden=3)


def test_toml_file_and_flag_precedence(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[train]\narch = "tiny"\nbatch-size = 8\nlr = 1\nclasses = "horse,cat"\n')
    assert load_config_file(path) == {
        "arch": "tiny",
        "batch_size": 8,
        "lr": 1.0,
        "classes": ("horse", "cat"),
    }
    config = build_config({"batch_size": 4, "epochs": None}, config_file=path)
    assert (config.arch, config.batch_size, config.lr, config.epochs) == ("tiny", 4, 1.0, 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs = 'ten'\n", "epochs must be int, got 'ten'"),
        ("epoch = 3\n", "unknown setting(s) epoch"),
        ("epochs = [\n", "invalid TOML"),
    ],
)
def test_toml_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config_file(path)


def test_missing_toml_file(tmp_path):
    with pytest.raises(UsageError, match="config file not found"):
        load_config_file(tmp_path / "none.toml")


def test_resume_keeps_model_settings_and_drops_session_limits():
    saved = TrainConfig(arch="tiny", width=4, epochs=2, max_minutes=5.0, max_steps=3)
    resumed = build_config({"epochs": 4, "width": 4}, base=saved)
    assert resumed.epochs == 4 and resumed.width == 4
    assert resumed.max_minutes is None and resumed.max_steps is None
    with pytest.raises(UsageError, match=r"--lr 0\.1 differs from the run being resumed"):
        build_config({"lr": 0.1}, base=saved)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("val_split", 1.0, "--val-split must be in [0, 1)"),
        ("lr", 0.0, "--lr must be positive"),
        ("batch_size", 0, "--batch-size must be an integer >= 1"),
        ("schedule", "linear", "--schedule must be one of onecycle, cosine, constant"),
        ("rebalance", True, "--rebalance needs a classification head"),
        ("arch", "vgg", "--arch: unknown architecture 'vgg'"),
    ],
)
def test_validation_messages(field, value, message):
    with pytest.raises(UsageError) as error:
        TrainConfig(**{field: value})
    assert message in str(error.value)


def test_every_field_has_a_cli_flag():
    from colorcli.cli import train as train_cli

    flags = set(inspect.signature(train_cli.train_command).parameters)
    internal = {"palette_pixels"}  # TOML only
    missing = {f.name for f in dataclasses.fields(TrainConfig)} - flags - internal
    assert missing == set()
