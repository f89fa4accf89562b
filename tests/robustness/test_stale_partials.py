"""Temporary files: legal names for any legal output name, and a killed run's leftovers cleaned.

:func:`colorcli.atomic.remove_stale_partials` deletes exactly the ``.<name>.<8 hex>.partial``
files of planned outputs that no live writer holds, and nothing else.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import pytest
from robustness_support import partials_under
from typer.testing import CliRunner

from colorcli.atomic import (
    atomic_write,
    partial_path,
    remove_stale_partials,
    short_name,
    writer_lock,
)
from colorcli.checkpoint import read_checkpoint, save_checkpoint
from colorcli.cli.app import app
from colorcli.imageio import read_image, write_image
from colorcli.training.run_folder import RunFolder
from support import gray_picture, save_tiny_checkpoint

runner = CliRunner()

LONG_NAMES = ["a" * 250 + ".png", "é" * 125 + ".png", "日" * 83 + ".png", "🙂" * 62 + ".png"]
"""Legal names of 254 or 255 bytes (255 is the usual limit) in 1- to 4-byte characters."""


@pytest.mark.parametrize("name", LONG_NAMES, ids=["ascii", "2-byte", "3-byte", "4-byte"])
def test_any_legal_output_name_can_be_written(name: str, tmp_path: Path) -> None:
    assert len(os.fsencode(name)) <= 255
    partial = partial_path(tmp_path / name)
    assert len(os.fsencode(partial.name)) <= 255
    assert partial.name.startswith(f".{short_name(name)}.")
    pixels = np.zeros((4, 5, 3), np.uint8)
    write_image(tmp_path / name, pixels)
    assert read_image(tmp_path / name).size == (5, 4)
    save_checkpoint(tmp_path / (name[:-4] + ".pt"), {"x": 1})
    assert partials_under(tmp_path) == []


def test_short_name_cuts_whole_characters() -> None:
    assert short_name("abc") == "abc"
    cut = short_name("é" * 150)
    assert cut == "é" * 100 and len(os.fsencode(cut)) == 200
    cut = short_name("a" + "🙂" * 60)
    assert cut == "a" + "🙂" * 49 and len(os.fsencode(cut)) == 197


def _stale(target: Path, token: str = "0123abcd") -> Path:
    path = target.parent / f".{short_name(target.name)}.{token}.partial"
    path.write_bytes(b"half an image")
    return path


def test_only_our_exact_leftovers_of_planned_outputs_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "photo 1.png"
    long_target = tmp_path / ("é" * 125 + ".png")
    ours = [_stale(target), _stale(target, "ffffffff"), _stale(long_target)]
    lookalikes = [
        tmp_path / ".photo 1.png.0123abc.partial",  # 7 hex digits
        tmp_path / ".photo 1.png.0123ABCD.partial",  # upper case: not secrets.token_hex
        tmp_path / ".photo 1.png.0123abcd.partial.bak",
        tmp_path / "photo 1.png.0123abcd.partial",  # not hidden
        tmp_path / ".photo 2.png.0123abcd.partial",  # not a planned output
        tmp_path / ".last.pt.0123abcd.partial",
        tmp_path / "photo 1.png",
    ]
    for path in lookalikes:
        path.write_bytes(b"keep me")
    folder = tmp_path / ".photo 1.png.aaaaaaaa.partial"
    folder.mkdir()
    link = tmp_path / ".photo 1.png.bbbbbbbb.partial"
    link.symlink_to(tmp_path / "photo 1.png")
    fifo = tmp_path / ".photo 1.png.cccccccc.partial"
    os.mkfifo(fifo)  # opening it for reading would block: the cleanup must not hang
    removed = remove_stale_partials([target, long_target, tmp_path / "missing" / "x.png"])
    assert sorted(removed) == sorted(ours)
    for path in [*lookalikes, folder, link, fifo]:
        assert path.is_symlink() or path.exists(), path
    assert (tmp_path / "photo 1.png").read_bytes() == b"keep me"


def test_a_partial_a_live_writer_holds_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    partial = partial_path(target)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with writer_lock(descriptor):
            os.close(descriptor)  # the lock outlives the file being closed
            descriptor = -1
            assert remove_stale_partials([target]) == []
            assert partial.exists()
        assert remove_stale_partials([target]) == [partial]  # its writer died
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def test_writers_hold_the_lock_while_writing(tmp_path: Path) -> None:
    """write_image and save_checkpoint lock their partial file until it is in place."""
    seen: list[bool] = []

    def check_locked(stream: object) -> None:
        (partial,) = partials_under(tmp_path)
        probe = os.open(partial, os.O_RDONLY)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            seen.append(True)
        else:
            seen.append(False)
        finally:
            os.close(probe)

    atomic_write(tmp_path / "x.bin", check_locked)
    assert seen == [True]


def test_colorize_removes_what_a_killed_run_left(tmp_path: Path, tiny_model: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        gray_picture(20, 12, index).save(photos / f"p{index}.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "p0.png").write_bytes(b"finished before the kill")  # kept: not redone
    left = [_stale(out / "p0.png"), _stale(out / "p1.png"), _stale(out / "p1_compare.png")]
    unrelated = out / ".other.png.0123abcd.partial"
    unrelated.write_bytes(b"not ours to judge")
    result = runner.invoke(
        app,
        [
            *("colorize", str(photos), "-o", str(out), "--model", str(tiny_model)),
            *("--compare", "-q", "--size", "32"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Summary: 2 done, 1 skipped (output exists), 0 failed" in result.stdout
    assert not any(path.exists() for path in left)
    assert unrelated.exists()
    assert (out / "p0.png").read_bytes() == b"finished before the kill"


def test_train_resume_removes_what_a_killed_save_left(tmp_path: Path) -> None:
    """A training run folder's leftovers (last.pt, metrics, sample grids) go on resume."""
    folder = RunFolder(tmp_path / "run")
    (folder.path / "samples").mkdir(parents=True)
    save_tiny_checkpoint(folder.last)
    left = [_stale(folder.last), _stale(folder.metrics_jsonl), _stale(folder.sample_grid(2))]
    assert sorted(folder.remove_stale_partials(epochs=3)) == sorted(left)
    read_checkpoint(folder.last)
