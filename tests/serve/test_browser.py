"""The page of ``colorcli serve`` in a real browser: Debian's chromium through Playwright.

Run by ``.ci/run`` (``-m browser``, with the ``browser`` dependency group) after it
installs chromium; skipped where chromium or Playwright is missing.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image
from serve_support import gray_photo

pytestmark = pytest.mark.browser


def _screenshot_script(repo_root: Path) -> ModuleType:
    """scripts/serve_screenshot.py, whose functions drive the page."""
    path = repo_root / "scripts" / "serve_screenshot.py"
    spec = importlib.util.spec_from_file_location("serve_screenshot", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_upload_hint_and_download_in_chromium(
    guided_checkpoint: Path, tmp_path: Path, repo_root: Path
) -> None:
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (uv sync --group browser)"
    )
    page_script = _screenshot_script(repo_root)
    if not page_script.CHROMIUM.exists():
        pytest.skip(f"{page_script.CHROMIUM} is missing (apt-get install chromium)")
    photo = tmp_path / "grandma.png"
    Image.fromarray(gray_photo(96, 64)).save(photo)
    served = page_script.served(guided_checkpoint, size=32)
    with served as server, page_script.chromium_page() as page:
        page_script.open_page(page, server.url)
        page_script.drop_photos(page, [photo])
        plain = np.asarray(page_script.shown_result(page), dtype=np.int32)
        assert plain.shape == (64, 96, 3)

        page_script.place_hint(page, 0.25, 0.5, "#1040ff")
        assert page.locator("#hints .hint").count() == 1
        hinted = np.asarray(page_script.shown_result(page), dtype=np.int32)
        # the hint is at pixel (24, 32): the colour around it moved
        assert np.abs(hinted - plain)[24:41, 16:33].max() > 2

        name, data = page_script.download(page)
        page.screenshot(path=str(tmp_path / "serve.png"))

        seen = page_script.renders(page)
        page.click("#hint-delete")  # the hint is still selected
        page_script.wait_for_render(page, seen)
        assert page.locator("#hints .hint").count() == 0
        unhinted = np.asarray(page_script.shown_result(page), dtype=np.int32)
        assert np.abs(unhinted - plain).max() <= 1

        second = tmp_path / "street.jpg"
        Image.fromarray(gray_photo(40, 70, seed=3)).save(second, quality=90)
        page_script.drop_photos(page, [second])
        with page.expect_download() as info:
            page.click("#download-all")
        archive = zipfile.ZipFile(info.value.path())
    assert name == "grandma_color.png"
    assert sorted(archive.namelist()) == ["grandma_color.png", "street_color.jpg"]
    assert archive.testzip() is None  # every CRC matches
    sizes = {item: Image.open(archive.open(item)).size for item in archive.namelist()}
    assert sizes == {"grandma_color.png": (96, 64), "street_color.jpg": (40, 70)}
    result = Image.open(io.BytesIO(data))
    assert result.format == "PNG" and result.size == (96, 64)
    assert (tmp_path / "serve.png").stat().st_size > 0
    assert list(server.workdir.parent.glob(server.workdir.name)) == []
