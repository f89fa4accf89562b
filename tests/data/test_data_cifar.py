"""Tests of colorcli.data.cifar: batch layout, class filter, and refusing hostile pickles."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from colorcli.data import CIFAR10_CLASSES, detect_kind, load_cifar_batch, open_dataset
from colorcli.errors import DataError

# One pure colour per class (label 3 = cat, 7 = horse), so items show their class.
COLOURS = {label: ((label * 25) % 256, 255 - label * 20, (label * 70) % 256) for label in range(10)}


def _batch(labels: list[int]) -> dict[bytes, object]:
    rows = np.empty((len(labels), 3 * 32 * 32), dtype=np.uint8)
    for row, label in enumerate(labels):
        planes = np.repeat(np.array(COLOURS[label], dtype=np.uint8), 32 * 32)  # R…, G…, B…
        rows[row] = planes
    return {b"batch_label": b"synthetic", b"labels": labels, b"data": rows}


def _write_batches(folder: Path, protocol: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, labels in (
        ("data_batch_1", [3, 7, 0, 3]),
        ("data_batch_2", [7, 1, 2]),
        ("test_batch", [3, 7, 9]),
    ):
        (folder / name).write_bytes(pickle.dumps(_batch(labels), protocol=protocol))
    return folder


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_load_with_every_pickle_protocol(tmp_path: Path, protocol: int) -> None:
    _write_batches(tmp_path, protocol)
    images, labels = load_cifar_batch(tmp_path / "data_batch_1")
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [3, 7, 0, 3]
    assert tuple(images[1, 5, 9]) == COLOURS[7]  # planar rows become HWC pixels


def test_numpy_1_pickles_load(tmp_path: Path) -> None:
    payload = pickle.dumps(_batch([5]), protocol=2)
    old = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert old != payload
    (tmp_path / "data_batch_1").write_bytes(old)
    images, labels = load_cifar_batch(tmp_path / "data_batch_1")
    assert labels.tolist() == [5]
    assert tuple(images[0, 0, 0]) == COLOURS[5]


def test_open_all_classes(tmp_path: Path) -> None:
    root = _write_batches(tmp_path)
    assert detect_kind(root) == "cifar10"
    bundle = open_dataset(root, size=32)
    assert bundle.info.kind == "cifar10"
    assert bundle.info.counts == (7, 3)
    item = bundle.val[0]
    assert item["lightness"].shape == (1, 32, 32) and item["ab"].shape == (2, 32, 32)
    expected = torch.tensor(COLOURS[3], dtype=torch.float32) / 255
    assert torch.allclose(item["rgb"], expected.view(3, 1, 1).expand(3, 32, 32))


def test_class_filter(tmp_path: Path) -> None:
    bundle = open_dataset(_write_batches(tmp_path), size=16, classes=["horse", "cat"])
    assert bundle.info.counts == (4, 2)
    assert bundle.info.classes == ["horse", "cat"]
    wanted = {COLOURS[3], COLOURS[7]}
    for dataset in (bundle.train, bundle.val):
        dataset.include_rgb = True
        for index in range(len(dataset)):
            pixel = tuple(round(v * 255) for v in dataset[index]["rgb"][:, 0, 0].tolist())
            assert pixel in wanted
    assert "data_batch_1[1]" in bundle.train.source(len(bundle.train) - 3)


def test_unknown_class_lists_the_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown CIFAR-10 class unicorn \(classes: airplane, "):
        open_dataset(_write_batches(tmp_path), size=8, classes=["unicorn"])


def test_batches_meta_names_and_sub_folder(tmp_path: Path) -> None:
    folder = _write_batches(tmp_path / "cifar-10-batches-py")
    names = [name.upper().encode() for name in CIFAR10_CLASSES]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    bundle = open_dataset(tmp_path, size=8, classes=["HORSE"])
    assert bundle.info.root == folder
    assert bundle.info.counts == (2, 1)


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = _write_batches(tmp_path / "cifar")
    (folder / "data_batch_1").write_bytes(
        pickle.dumps({b"data": _Hostile(marker), b"labels": [0]}, protocol=2)
    )
    with pytest.raises(DataError, match=r"data_batch_1: not a safe CIFAR pickle \(refusing"):
        open_dataset(folder, size=8)
    assert not marker.exists()
    (folder / "data_batch_1").write_bytes(pickle.dumps(_Hostile(marker), protocol=5))
    with pytest.raises(DataError, match=r"refusing to load global (posix|nt|os)\.system"):
        load_cifar_batch(folder / "data_batch_1")
    assert not marker.exists()


def test_truncated_and_malformed_batches(tmp_path: Path) -> None:
    folder = _write_batches(tmp_path)
    whole = (folder / "data_batch_1").read_bytes()
    (folder / "data_batch_1").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="data_batch_1: unreadable or truncated pickle"):
        load_cifar_batch(folder / "data_batch_1")
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"labels": [1]}, protocol=2))
    with pytest.raises(DataError, match="no 'data' entry"):
        load_cifar_batch(folder / "data_batch_1")
    bad = {b"labels": [1], b"data": np.zeros((1, 10), dtype=np.uint8)}
    (folder / "data_batch_1").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match=r"expected data of shape \(N, 3072\) uint8"):
        load_cifar_batch(folder / "data_batch_1")


def test_batch_file_path_and_limit(tmp_path: Path) -> None:
    folder = _write_batches(tmp_path)
    bundle = open_dataset(folder / "test_batch", size=8, limit=2, seed=4)
    assert bundle.info.counts == (2, 2)
    again = open_dataset(folder, size=8, limit=2, seed=4)
    assert bundle.train.sources == again.train.sources
