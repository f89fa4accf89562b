"""Tests of colorcli.data.detect: layout detection, option checks, the built-in sample set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from colorcli.data import builtin as builtin_module
from colorcli.data import builtin_sample_dir, detect_kind, open_dataset
from colorcli.errors import DataError, UsageError


def test_detects_each_layout(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "plain" / "a.png")
    write_image(tmp_path / "split" / "train" / "a.png")
    write_image(tmp_path / "split" / "val" / "a.png")
    write_image(tmp_path / "classes" / "cat" / "train" / "a.png")
    write_image(tmp_path / "classes" / "cat" / "test" / "a.png")
    (tmp_path / "cifar").mkdir()
    (tmp_path / "cifar" / "test_batch").write_bytes(b"")
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "gray_scale.npy", np.zeros((1, 2, 2), dtype=np.uint8))
    np.save(tmp_path / "npy" / "ab1.npy", np.zeros((1, 2, 2, 2), dtype=np.uint8))
    assert detect_kind(tmp_path / "plain") == "folder"
    assert detect_kind(tmp_path / "split") == "split-folder"
    assert detect_kind(tmp_path / "classes") == "class-split-folder"
    assert detect_kind(tmp_path / "cifar") == "cifar10"
    assert detect_kind(str(tmp_path / "npy")) == "lab-npy"
    assert detect_kind(None) == detect_kind("builtin") == "builtin"


def test_a_sub_folder_without_split_means_a_plain_folder(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "cat" / "train" / "a.png")
    write_image(tmp_path / "cat" / "test" / "a.png")
    write_image(tmp_path / "dog" / "a.png")
    assert detect_kind(tmp_path) == "folder"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": 0}, "size must be a positive number of pixels, got 0"),
        ({"size": 8, "val_split": 1.0}, r"val_split must be in \[0, 1\), got 1.0"),
        ({"size": 8, "limit": 0}, "limit must be a positive number of samples, got 0"),
        ({"size": 8, "classes": []}, "classes must name at least one class"),
        ({"size": 8, "classes": ["cat"]}, "the built-in sample set has no classes to filter"),
    ],
)
def test_bad_options_are_usage_errors(options: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_dataset(None, **options)


def test_builtin_samples(tmp_path: Path) -> None:
    if not any(builtin_sample_dir().glob("*")):
        pytest.skip("no built-in sample photographs in this checkout")
    bundle = open_dataset("builtin", size=16, seed=1)
    assert bundle.info.kind == "builtin"
    train, val = bundle.info.counts
    assert train == val >= 1
    assert bundle.train.paths == bundle.val.paths
    item = bundle.train[0]
    assert item["lightness"].shape == (1, 16, 16) and item["ab"].shape == (2, 16, 16)
    assert bundle.val[0]["rgb"].shape == (3, 16, 16)
    assert "demonstration only" in bundle.info.describe()
    assert torch.equal(open_dataset(None, size=16, seed=1).train[0]["ab"], item["ab"])


def test_missing_builtin_samples_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builtin_module, "builtin_sample_dir", lambda: tmp_path / "absent")
    with pytest.raises(DataError, match="no built-in colour sample images in this installation"):
        open_dataset(None, size=8)
