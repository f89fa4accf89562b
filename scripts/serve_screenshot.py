"""Screenshot of ``colorcli serve`` for the README (docs/images/serve.png).

Starts the server in this process on a free loopback port, drives Debian's chromium
through Playwright (``apt-get install chromium``; never a browser Playwright downloads),
drops photos on the page, places colour hints when the model takes them, and saves a
screenshot. ``tests/serve/test_browser.py`` drives the page with these same functions.

    uv run --group browser python scripts/serve_screenshot.py            # default model
    uv run --group browser python scripts/serve_screenshot.py --model runs/guided/best.pt
"""

from __future__ import annotations

import argparse
import base64
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from colorcli.checkpoint import load_model
from colorcli.pipeline import Colorizer
from colorcli.serve import ColorizeServer, ServeSettings, served_name

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 120_000  # the tests run at low priority on two cores

Page = Any  # playwright.sync_api.Page; playwright is imported only when a page is opened


@contextmanager
def served(model: str | Path | None, *, size: int | None = None) -> Iterator[ColorizeServer]:
    """``colorcli serve`` with ``model`` on 127.0.0.1 and a free port, in a thread."""
    colorizer = Colorizer(load_model(model), size=size)
    label = served_name(model)
    with ColorizeServer(colorizer, label=label, settings=ServeSettings(port=0)) as server:
        yield server.start()


@contextmanager
def chromium_page(width: int = 1280, height: int = 760) -> Iterator[Page]:
    """A page of headless Debian chromium that accepts downloads."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, accept_downloads=True
            )
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def open_page(page: Page, url: str) -> None:
    """Load the page and wait until it knows the served model."""
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")


def renders(page: Page) -> int:
    """How many results the viewer has shown so far."""
    return int(page.get_attribute("#viewer", "data-renders") or 0)


def wait_for_render(page: Page, seen: int) -> None:
    """Wait until the viewer shows a result newer than the ``seen``-th."""
    page.wait_for_function(
        "seen => Number(document.getElementById('viewer').dataset.renders) > seen", arg=seen
    )


def drop_photos(page: Page, photos: list[Path]) -> None:
    """Give the page photos (as the file picker does); wait until all are colourized."""
    done = "document.querySelectorAll('#queue li[data-status=\"done\"]').length"
    target = page.evaluate(done) + len(photos)
    page.set_input_files("#files", [str(photo) for photo in photos])
    page.wait_for_function(f"n => {done} >= n", arg=target)
    page.wait_for_selector("#progress-box", state="hidden")


def place_hint(page: Page, fx: float, fy: float, colour: str) -> None:
    """Click the photo at fractions ``fx``, ``fy`` of its size, pick ``colour`` for the new
    hint (the picker edits the selected hint), and wait for the result made with it."""
    box = page.locator("#after").bounding_box()
    count = page.locator("#hints .hint").count() + 1
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.evaluate(
        """colour => {
            const input = document.getElementById('hint-colour');
            input.value = colour;
            input.dispatchEvent(new Event('input'));
        }""",
        colour,
    )
    page.wait_for_function(
        """([count, colour]) => {
            const hints = JSON.parse(document.getElementById('viewer').dataset.hints || '[]');
            return hints.length === count && hints[count - 1].color === colour;
        }""",
        arg=[count, colour.lower()],
    )


def set_split(page: Page, percent: float) -> None:
    """Move the before/after slider: the original shows left of ``percent``."""
    page.evaluate(
        """percent => {
            const split = document.getElementById('split');
            split.value = String(percent);
            split.dispatchEvent(new Event('input'));
        }""",
        percent,
    )


def shown_result(page: Page) -> Image.Image:
    """The result the viewer shows, as the browser decoded it."""
    data_url = page.evaluate(
        """async () => {
            const image = document.getElementById('after');
            await image.decode();
            const canvas = document.createElement('canvas');
            canvas.width = image.naturalWidth;
            canvas.height = image.naturalHeight;
            canvas.getContext('2d').drawImage(image, 0, 0);
            return canvas.toDataURL('image/png');
        }"""
    )
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


def download(page: Page) -> tuple[str, bytes]:
    """Press Download; return the saved file's suggested name and bytes."""
    with page.expect_download() as info:
        page.click("#download")
    saved = info.value
    return saved.suggested_filename, Path(saved.path()).read_bytes()


def _sample_photos(folder: Path) -> list[Path]:
    """Gray versions of scikit-image's astronaut and coffee (public domain), 640 px."""
    from skimage import data

    photos = []
    for name in ("astronaut", "coffee"):
        image = Image.fromarray(getattr(data, name)()).convert("L")
        image.thumbnail((640, 640))
        path = folder / f"{name}.jpg"
        image.save(path, quality=92)
        photos.append(path)
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="name or checkpoint (default model)")
    parser.add_argument("--out", type=Path, default=Path("docs/images/serve.png"))
    parser.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="FX,FY=COLOUR",
        help="a hint at fractions of the first photo (guided models only), e.g. 0.3,0.6=#c0392b",
    )
    parser.add_argument("--split", type=float, default=35.0, help="before/after slider, %%")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photos = _sample_photos(Path(folder))
        with served(args.model) as server, chromium_page() as page:
            open_page(page, server.url)
            drop_photos(page, photos)
            page.click("#queue li:first-child")
            takes_hints = server.service.models()["served"]["accepts_hints"]
            if args.hint and not takes_hints:
                print(f"model {server.service.label} takes no hints: --hint ignored")
            if takes_hints:
                for text in args.hint:
                    where, colour = text.split("=", 1)
                    fx, fy = (float(value) for value in where.split(","))
                    place_hint(page, fx, fy, colour)
            set_split(page, args.split)
            page.screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
