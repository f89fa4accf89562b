"""``colorcli serve``: a local web page to drop photos, place colour hints and download."""

from __future__ import annotations

import webbrowser

import typer
from rich.markup import escape

from colorcli.checkpoint import load_model
from colorcli.cli import _options
from colorcli.cli._report import console, download_progress, err_console, reported_errors
from colorcli.device import describe_device, resolve_device
from colorcli.errors import UsageError
from colorcli.pipeline import Colorizer
from colorcli.serve import ColorizeServer, ServeSettings, served_name
from colorcli.serve.server import (
    DEFAULT_HOST,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PORT,
    DEFAULT_QUEUE_SIZE,
)

GUIDED_MODEL = "lite0-guided"
"""The page is for placing colour hints, so it serves the guided model by default."""


def serve_command(
    host: str = typer.Option(
        DEFAULT_HOST,
        "--host",
        help="Address to listen on; 0.0.0.0 opens the page to your network (no password).",
    ),
    port: int = typer.Option(
        DEFAULT_PORT, "--port", "-p", min=0, max=65535, help="TCP port (0 = any free one)."
    ),
    model: str = typer.Option(
        GUIDED_MODEL,
        "--model",
        "-m",
        help=(
            f"Published model name or checkpoint path (default: {GUIDED_MODEL}, the model "
            "that takes colour hints)."
        ),
    ),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda, cuda:N or mps."),
    size: int | None = _options.size_option(),
    open_page: bool = typer.Option(False, "--open", help="Open the page in your web browser."),
    max_upload_mb: float = typer.Option(
        DEFAULT_MAX_UPLOAD_BYTES / 1e6,
        "--max-upload-mb",
        min=0.001,
        help="Refuse larger uploads (HTTP 413).",
    ),
    max_pixels: int = typer.Option(
        DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Refuse larger images (HTTP 413)."
    ),
    queue: int = typer.Option(
        DEFAULT_QUEUE_SIZE,
        "--queue",
        min=1,
        help="Photos that may wait or run at once; more are told the server is busy (503).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No line per request."),
) -> None:
    """Serve a local page: drop photos, compare before/after, click colour hints, download."""
    with reported_errors():
        compute = resolve_device(device)
        with download_progress() as on_bytes:
            loaded = load_model(model, device=compute, progress=on_bytes)
        colorizer = Colorizer(loaded, device=compute, size=size)
        label = served_name(model)
        settings = ServeSettings(
            host=host,
            port=port,
            max_upload_bytes=round(max_upload_mb * 1e6),
            max_pixels=max_pixels,
            queue_size=queue,
        )
        try:
            server = ColorizeServer(
                colorizer, label=label, settings=settings, log=None if quiet else _log
            )
        except OSError as error:
            raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    err_console.print(
        f"colorcli serve: model {escape(label)} ({loaded.arch}"
        + (", takes hints" if loaded.accepts_hints else "")
        + f"), device {describe_device(compute)}, size {colorizer.size}; Ctrl-C stops",
        highlight=False,
    )
    console.print(server.url, highlight=False, soft_wrap=True)
    if open_page:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    err_console.print("colorcli serve: stopped", highlight=False)


def _log(line: str) -> None:
    err_console.print(escape(line), highlight=False, soft_wrap=True)
