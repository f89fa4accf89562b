"""Tests of colorcli.data.folder: scanning, skipping, layouts, samples, failures, cache."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from data_images import colour_array
from PIL import Image

from colorcli.data import (
    IMAGE_SUFFIXES,
    ImageFolderDataset,
    is_grayscale_image,
    open_dataset,
    read_rgb,
)
from colorcli.data import folder as folder_module
from colorcli.errors import DataError
from colorcli.imageio import ALPHA_MODES, GRAY_MODES, IMAGE_EXTENSIONS


def test_folder_skips_grayscale_and_unreadable(photo_folder: Path) -> None:
    bundle = open_dataset(photo_folder, size=16, val_split=0.25, seed=0)
    info = bundle.info
    assert info.kind == "folder"
    assert info.root == photo_folder
    assert info.skipped_grayscale == 2
    assert info.skipped_unreadable == 1
    assert info.unreadable[0][0] == str(photo_folder / "broken.jpg")
    assert info.unreadable[0][1]  # a reason
    assert sum(info.counts) == 7
    assert info.counts == (len(bundle.train), len(bundle.val))
    assert len(bundle.val) >= 1
    used = {Path(p).name for p in bundle.train.paths + bundle.val.paths}
    assert used == {"a.png", "b.jpg", "c.PNG", "d.jpeg", "e.webp", "f.bmp", "g.tiff"}
    text = info.describe()
    assert "2 grayscale, 1 unreadable" in text
    assert "broken.jpg" in text
    assert info.as_dict()["counts"] == list(info.counts)


def test_samples_have_documented_shapes_and_ranges(photo_folder: Path) -> None:
    bundle = open_dataset(photo_folder, size=16, val_split=0.25)
    item = bundle.train[0]
    assert set(item) == {"lightness", "ab"}
    assert item["lightness"].shape == (1, 16, 16) and item["lightness"].dtype == torch.float32
    assert item["ab"].shape == (2, 16, 16) and item["ab"].dtype == torch.float32
    assert item["lightness"].min() >= 0.0 and item["lightness"].max() <= 100.0
    assert item["ab"].abs().max() <= 128.0
    assert item["ab"].abs().max() > 10.0  # the images are colourful
    val_item = bundle.val[0]
    assert val_item["rgb"].shape == (3, 16, 16)
    assert val_item["rgb"].min() >= 0.0 and val_item["rgb"].max() <= 1.0


def test_same_seed_same_split_and_samples(photo_folder: Path) -> None:
    first = open_dataset(photo_folder, size=12, val_split=0.3, seed=5)
    second = open_dataset(photo_folder, size=12, val_split=0.3, seed=5)
    assert first.train.paths == second.train.paths and first.val.paths == second.val.paths
    for index in range(len(first.train)):
        assert torch.equal(first.train[index]["ab"], second.train[index]["ab"])
    before = first.train[0]["lightness"]
    assert torch.equal(first.train[0]["lightness"], before)  # same epoch: same crop
    first.train.set_epoch(1)
    changed = [
        not torch.equal(first.train[i]["lightness"], second.train[i]["lightness"])
        for i in range(len(first.train))
    ]
    assert any(changed)


def test_val_is_deterministic_centre_crop(tmp_path: Path, write_image) -> None:
    image = np.zeros((10, 30, 3), dtype=np.uint8)
    image[:, 10:20] = (255, 0, 0)  # the central square is pure red
    write_image(tmp_path / "train" / "x.png", colour_array(seed=1))
    write_image(tmp_path / "val" / "red.png", image)
    bundle = open_dataset(tmp_path, size=10)
    rgb = bundle.val[0]["rgb"]
    assert torch.allclose(rgb, torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 10, 10))


def test_train_val_folders_are_the_split(tmp_path: Path, write_image) -> None:
    for index in range(3):
        write_image(tmp_path / "train" / f"t{index}.png", seed=index)
    write_image(tmp_path / "val" / "v.jpg", seed=7)
    (tmp_path / "manifest.csv").write_text("file\n")
    bundle = open_dataset(tmp_path, size=8, val_split=0.5)
    assert bundle.info.kind == "split-folder"
    assert bundle.info.counts == (3, 1)
    assert any("val_split not used" in note for note in bundle.info.notes)


def test_test_folder_serves_as_val(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "a.png", seed=1)
    write_image(tmp_path / "test" / "b.png", seed=2)
    bundle = open_dataset(tmp_path, size=8)
    assert bundle.info.kind == "split-folder"
    assert [Path(p).name for p in bundle.val.paths] == ["b.png"]


def test_class_split_layout_and_class_filter(tmp_path: Path, write_image) -> None:
    for name in ("cat", "horse"):
        for index in range(2):
            write_image(tmp_path / name / "train" / f"{index}.png", seed=index)
        write_image(tmp_path / name / "test" / "0.png", seed=3)
    everything = open_dataset(tmp_path, size=8)
    assert everything.info.kind == "class-split-folder"
    assert everything.info.counts == (4, 2)
    horses = open_dataset(tmp_path, size=8, classes=["horse"])
    assert horses.info.counts == (2, 1)
    assert all("/horse/" in path for path in horses.train.paths + horses.val.paths)
    assert "classes: horse" in horses.info.describe()
    with pytest.raises(DataError, match=r"no class folder named dog \(class folders: cat, horse\)"):
        open_dataset(tmp_path, size=8, classes=["dog"])


def test_class_filter_on_plain_folder(tmp_path: Path, write_image) -> None:
    for name in ("cat", "dog"):
        for index in range(3):
            write_image(tmp_path / name / f"{index}.png", seed=index)
    bundle = open_dataset(tmp_path, size=8, classes=["dog"], val_split=0.3)
    assert sum(bundle.info.counts) == 3
    assert all("/dog/" in path for path in bundle.train.paths + bundle.val.paths)


def test_limit_takes_a_seeded_subset(tmp_path: Path, write_image) -> None:
    for index in range(12):
        write_image(tmp_path / f"{index:02d}.png", seed=index)
    bundle = open_dataset(tmp_path, size=8, val_split=0.25, limit=4, seed=1)
    assert bundle.info.counts == (4, 3)
    again = open_dataset(tmp_path, size=8, val_split=0.25, limit=4, seed=1)
    assert bundle.train.paths == again.train.paths
    full = open_dataset(tmp_path, size=8, val_split=0.25, seed=1)
    assert set(bundle.val.paths) <= set(full.val.paths)  # the limit never leaks val into train


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    # the one suffix list (colorcli.imageio.IMAGE_EXTENSIONS), which depends on Pillow's build
    assert {".bmp", ".jpeg", ".jpg"} <= IMAGE_SUFFIXES
    listed = re.escape(", ".join(sorted(IMAGE_SUFFIXES)))
    with pytest.raises(DataError, match=rf"empty: no image files \({listed}\) found"):
        open_dataset(tmp_path / "empty", size=8)


def test_folder_suffixes_and_modes_are_those_of_imageio() -> None:
    assert IMAGE_SUFFIXES is IMAGE_EXTENSIONS
    assert folder_module.GRAY_MODES is GRAY_MODES
    assert folder_module.ALPHA_MODES is ALPHA_MODES


def test_only_grayscale_is_a_clear_error(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "g.png", mode="L")
    with pytest.raises(
        DataError, match=r"no colour images for training \(1 grayscale, 0 unreadable\)"
    ):
        open_dataset(tmp_path, size=8)


def test_missing_path_and_lone_file(tmp_path: Path, write_image) -> None:
    with pytest.raises(DataError, match="nowhere: no such file or folder"):
        open_dataset(tmp_path / "nowhere", size=8)
    image = write_image(tmp_path / "one.png")
    with pytest.raises(DataError, match=r"one\.png: is an image, not a data set"):
        open_dataset(image, size=8)


def test_file_vanishing_after_scan_is_replaced_by_next(photo_folder: Path, caplog) -> None:
    bundle = open_dataset(photo_folder, size=8, val_split=0.0, augment=False)
    train = bundle.train
    gone = Path(train.paths[0])
    expected = train[1]
    gone.unlink()
    with caplog.at_level("WARNING", logger="colorcli.data"):
        item = train[0]
    assert torch.equal(item["ab"], expected["ab"])
    assert train.failures[0][0] == str(gone)
    assert train.runtime_failures == 1
    assert "skipping unreadable sample" in caplog.text
    train[0]  # known bad: skipped without a second failure
    assert train.runtime_failures == 1


def test_everything_unreadable_raises(tmp_path: Path, write_image) -> None:
    dataset = ImageFolderDataset([tmp_path / "a.png", tmp_path / "b.png"], 8)
    with pytest.raises(DataError, match="could not be read"):
        dataset[0]
    with pytest.raises(IndexError):
        dataset[2]


def test_dataset_pickles_and_survives_a_dataloader(photo_folder: Path) -> None:
    bundle = open_dataset(photo_folder, size=8, val_split=0.0)
    clone = pickle.loads(pickle.dumps(bundle.train))
    assert torch.equal(clone[2]["ab"], bundle.train[2]["ab"])
    loader = torch.utils.data.DataLoader(
        bundle.train, batch_size=4, num_workers=2, persistent_workers=True
    )
    epoch0 = torch.cat([batch["ab"] for batch in loader])
    bundle.train.set_epoch(1)  # must reach the persistent workers
    epoch1 = torch.cat([batch["ab"] for batch in loader])
    assert epoch0.shape == (7, 2, 8, 8)
    assert torch.equal(epoch1, torch.stack([bundle.train[i]["ab"] for i in range(7)]))
    assert not torch.equal(epoch0, epoch1)


def test_scan_cache_skips_known_files_and_rechecks_changed_ones(
    photo_folder: Path, write_image, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_dataset(photo_folder, size=8)
    checked: list[str] = []
    real_check = folder_module._check_file

    def counting_check(path: Path) -> str:
        checked.append(path.name)
        return real_check(path)

    monkeypatch.setattr(folder_module, "_check_file", counting_check)
    second = open_dataset(photo_folder, size=8)
    assert second.info.as_dict() == first.info.as_dict()
    assert checked == ["broken.jpg"]  # unreadable files are always checked again
    write_image(photo_folder / "a.png", mode="L")  # now grayscale, new size and time
    checked.clear()
    third = open_dataset(photo_folder, size=8)
    assert sorted(checked) == ["a.png", "broken.jpg"]
    assert third.info.skipped_grayscale == 3


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("L", True), ("LA", True), ("I;16", True), ("1", True), ("RGB", False), ("P", False)],
)
def test_is_grayscale_by_mode(mode: str, expected: bool) -> None:
    image = Image.fromarray(colour_array()).convert(mode)
    assert is_grayscale_image(image) is expected


def test_is_grayscale_by_chroma() -> None:
    gray = np.repeat(colour_array()[..., :1], 3, axis=2)
    assert is_grayscale_image(Image.fromarray(gray))
    faint = gray.astype(np.int16)
    faint[..., 0] += 1  # one level of red: still grayscale
    assert is_grayscale_image(Image.fromarray(faint.clip(0, 255).astype(np.uint8)))
    sepia = (np.linspace(40, 220, 64)[:, None] * np.array([1.0, 0.85, 0.65])).astype(np.uint8)
    assert not is_grayscale_image(Image.fromarray(np.repeat(sepia[None], 8, axis=0)))


def test_read_rgb_applies_exif_orientation_and_flattens_alpha(tmp_path: Path) -> None:
    image = Image.fromarray(colour_array(height=10, width=30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert read_rgb(tmp_path / "rotated.jpg").shape == (30, 10, 3)
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert (read_rgb(tmp_path / "clear.png") == 255).all()


def test_read_rgb_draft_decodes_big_jpeg_small(tmp_path: Path) -> None:
    Image.fromarray(colour_array(height=400, width=480)).save(tmp_path / "big.jpg")
    assert min(read_rgb(tmp_path / "big.jpg", min_side=90).shape[:2]) == 100
