"""Tests of colorcli.data.npy: the Kaggle LAB .npy layouts, value scaling, splitting, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from colorcli.data import LabNpyDataset, detect_kind, open_dataset
from colorcli.errors import DataError, UsageError

N, SIDE = 5, 8


def _arrays() -> tuple[np.ndarray, np.ndarray]:
    """L8 ``(N, 8, 8)`` where image i is filled with a known value, and ab8 ``(N, 8, 8, 2)``."""
    lightness = np.empty((N, SIDE, SIDE), dtype=np.uint8)
    ab = np.empty((N, SIDE, SIDE, 2), dtype=np.uint8)
    levels = [(255, 128, 128), (0, 0, 255), (51, 255, 0), (102, 200, 60), (204, 128, 129)]
    for index, (l8, a8, b8) in enumerate(levels):
        lightness[index], ab[index, ..., 0], ab[index, ..., 1] = l8, a8, b8
    return lightness, ab


def _write(root: Path, layout: str) -> Path:
    lightness, ab = _arrays()
    gray_dir = root / "l" if layout == "kaggle" else root
    ab_dir = {"kaggle": root / "ab" / "ab", "ab-folder": root / "ab", "flat": root}[layout]
    gray_dir.mkdir(parents=True, exist_ok=True)
    ab_dir.mkdir(parents=True, exist_ok=True)
    np.save(gray_dir / "gray_scale.npy", lightness)
    np.save(ab_dir / "ab1.npy", ab[:2])
    np.save(ab_dir / "ab2.npy", ab[2:4])
    np.save(ab_dir / "ab10.npy", ab[4:])  # numeric, not alphabetical, order
    return root


@pytest.mark.parametrize("layout", ["kaggle", "ab-folder", "flat"])
def test_layouts_round_trip_values(tmp_path: Path, layout: str) -> None:
    root = _write(tmp_path, layout)
    assert detect_kind(root) == "lab-npy"
    bundle = open_dataset(root, size=SIDE, val_split=0.0, augment=False)
    assert bundle.info.kind == "lab-npy"
    assert bundle.info.counts == (N, 0)
    expected = [(100.0, 0.0, 0.0), (0.0, -128.0, 127.0), (20.0, 127.0, -128.0)]
    for index, (lightness, a, b) in enumerate(expected):
        item = bundle.train[index]
        assert item["lightness"].shape == (1, SIDE, SIDE)
        assert item["ab"].shape == (2, SIDE, SIDE)
        assert item["lightness"].dtype == item["ab"].dtype == torch.float32
        assert torch.allclose(item["lightness"], torch.full((1, SIDE, SIDE), lightness))
        assert torch.equal(item["ab"][0], torch.full((SIDE, SIDE), a))
        assert torch.equal(item["ab"][1], torch.full((SIDE, SIDE), b))
    last = bundle.train[4]["ab"]
    assert torch.equal(last[:, 0, 0], torch.tensor([0.0, 1.0]))


def test_gray_scale_file_path_opens_its_data_set(tmp_path: Path) -> None:
    root = _write(tmp_path, "kaggle")
    bundle = open_dataset(root / "l" / "gray_scale.npy", size=SIDE, val_split=0.4)
    assert bundle.info.root == root
    assert bundle.info.counts == (3, 2)
    assert set(bundle.train.indices) | set(bundle.val.indices) == set(range(N))


def test_augmented_samples_and_val_rgb(tmp_path: Path) -> None:
    bundle = open_dataset(_write(tmp_path, "flat"), size=4, val_split=0.4, seed=3)
    item = bundle.train[0]
    assert item["lightness"].shape == (1, 4, 4)
    assert item["lightness"].min() >= 0.0 and item["lightness"].max() <= 100.0
    rgb = bundle.val[0]["rgb"]
    assert rgb.shape == (3, 4, 4)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    again = open_dataset(tmp_path, size=4, val_split=0.4, seed=3)
    assert torch.equal(again.train[1]["ab"], bundle.train[1]["ab"])


def test_memory_maps_are_not_pickled(tmp_path: Path) -> None:
    bundle = open_dataset(_write(tmp_path, "flat"), size=SIDE, val_split=0.0)
    train = bundle.train
    assert isinstance(train, LabNpyDataset)
    train[0]  # opens the memory maps
    assert train._arrays is not None
    clone = pickle.loads(pickle.dumps(train))
    assert clone._arrays is None
    assert torch.equal(clone[3]["ab"], train[3]["ab"])


def test_limit_and_count_mismatch_note(tmp_path: Path) -> None:
    root = _write(tmp_path, "flat")
    (root / "ab10.npy").unlink()
    bundle = open_dataset(root, size=SIDE, val_split=0.0, limit=3)
    assert bundle.info.counts == (3, 0)
    assert any("has 5 images but the ab files have 4" in note for note in bundle.info.notes)


def test_bad_arrays_are_data_errors(tmp_path: Path) -> None:
    root = _write(tmp_path, "flat")
    np.save(root / "ab2.npy", np.zeros((2, SIDE, SIDE, 2), dtype=np.float32))
    with pytest.raises(DataError, match=r"ab2\.npy: expected uint8 values, got float32"):
        open_dataset(root, size=SIDE)
    np.save(root / "ab2.npy", np.zeros((2, 4, 4, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=r"expected shape \(n, 8, 8, 2\)"):
        open_dataset(root, size=SIDE)


def test_l_without_ab_is_a_data_error(tmp_path: Path) -> None:
    np.save(tmp_path / "gray_scale.npy", _arrays()[0])
    with pytest.raises(DataError, match=r"gray_scale\.npy: found the L array but no ab1\.npy"):
        open_dataset(tmp_path, size=SIDE)


def test_classes_do_not_apply(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no classes to filter"):
        open_dataset(_write(tmp_path, "flat"), size=SIDE, classes=["cat"])
