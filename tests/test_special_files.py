"""Only regular files (and links to them) are opened: a FIFO never blocks a run (issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from colorcli.errors import ImageError
from colorcli.imageio import probe_size, read_image

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@pytest.mark.parametrize("read", [read_image, probe_size])
def test_a_fifo_or_a_link_to_one_is_refused_without_blocking(tmp_path: Path, read) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(fifo)
    for path in (fifo, link):  # before the fix, open() waited for a writer forever
        with pytest.raises(ImageError) as caught:
            read(path)
        assert str(caught.value) == f"{path}: not a regular file (a FIFO, device or socket)"


def test_a_folder_named_like_an_image_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    with pytest.raises(ImageError, match="is a directory, not an image file"):
        read_image(folder)
