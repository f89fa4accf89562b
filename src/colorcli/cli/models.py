"""``colorcli models``: list, download, inspect and remove published checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from colorcli import hub
from colorcli.cli._report import console, download_progress, reported_errors

app = typer.Typer(
    help="List, download, inspect and remove published checkpoints.",
    add_completion=False,
)

_TIMEOUT_OPTION = typer.Option(
    hub.DEFAULT_TIMEOUT, "--timeout", min=0.1, help="Seconds to wait for a connection or data."
)


@app.callback(invoke_without_command=True)
def models_callback(ctx: typer.Context) -> None:
    """List published checkpoints (without a subcommand), or manage them."""
    if ctx.invoked_subcommand is None:
        list_command()


@app.command("list")
def list_command() -> None:
    """Table of published checkpoints: architecture, size, local copies, key metrics."""
    with reported_errors():
        manifest = hub.load_manifest()
    if not manifest.models:
        _say(f"No published models in {manifest.path}.")
        return
    table = Table(caption="* default model; local copies are verified when used")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("arch")
    table.add_column("head")
    table.add_column("params", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("local")
    table.add_column("metrics")
    for entry in manifest.models:
        table.add_row(
            "*" if entry.name == manifest.default else "",
            Text(entry.name),
            Text(entry.arch),
            Text(entry.head),
            _count(entry.params),
            _size(entry.size),
            _where(entry),
            Text(_key_metrics(entry.metrics)),
        )
    console.print(table)


@app.command("download")
def download_command(
    names: list[str] = typer.Argument(..., help="Model names (see `colorcli models`)."),
    timeout: float = _TIMEOUT_OPTION,
) -> None:
    """Download checkpoints into the user cache and verify their SHA-256."""
    with reported_errors():
        manifest = hub.load_manifest()
        entries = [hub.get_entry(name, manifest) for name in names]
        for entry in entries:
            local = hub.local_checkpoint(entry)
            if local is not None:
                _say(f"{entry.name}: already available at {local}")
                continue
            with download_progress() as progress:
                path = hub.download_entry(entry, progress=progress, timeout=timeout)
            _say(f"{entry.name}: downloaded to {path}")


@app.command("info")
def info_command(name: str = typer.Argument(..., help="Model name.")) -> None:
    """Every manifest field of one checkpoint, with the state of its local copies."""
    with reported_errors():
        manifest = hub.load_manifest()
        entry = hub.get_entry(name, manifest)
    rows = [
        ("name", entry.name),
        ("aliases", ", ".join(entry.aliases) or "-"),
        ("default", "yes" if entry.name == manifest.default else "no"),
        ("description", entry.description or "-"),
        ("arch", entry.arch),
        ("head", entry.head),
        ("params", f"{entry.params:,}"),
        ("file", entry.file),
        ("size", f"{entry.size:,} bytes"),
        ("sha256", entry.sha256),
        ("urls", "\n".join(hub.entry_urls(entry))),
        ("training data", entry.training_data or "-"),
        ("training command", entry.training_command or "-"),
        ("metrics", "\n".join(f"{k}: {v:g}" for k, v in entry.metrics.items()) or "-"),
        ("licence", entry.licence or "-"),
        ("shipped", _state(hub.shipped_path(entry), entry)),
        ("cached", _state(hub.cached_path(entry), entry)),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, Text(value))
    console.print(grid)


@app.command("remove")
def remove_command(
    names: list[str] = typer.Argument(..., help="Model names to remove from the user cache."),
) -> None:
    """Delete cached checkpoints; files shipped with colorcli are never removed."""
    with reported_errors():
        manifest = hub.load_manifest()
        entries = [hub.get_entry(name, manifest) for name in names]
        for entry in entries:
            removed = hub.remove_cached(entry.name, manifest)
            for path in removed:
                _say(f"Removed {path}")
            if not removed:
                _say(
                    f"{entry.name}: nothing to remove, not in the cache at {hub.cached_path(entry)}"
                )
            if hub.shipped_path(entry).exists():
                _say(f"{entry.name}: kept the copy shipped with colorcli")


_KEY_METRICS = ("psnr", "deltae", "colorfulness")


def _key_metrics(metrics: Mapping[str, float]) -> str:
    """PSNR, CIEDE2000 and colourfulness with the gray baseline beside each, when recorded."""
    keys = [key for key in _KEY_METRICS if key in metrics] or list(metrics)[:3]
    parts = []
    for key in keys:
        gray = metrics.get(f"gray_{key}")
        parts.append(
            f"{key} {metrics[key]:.4g}" + (f" (gray {gray:.4g})" if gray is not None else "")
        )
    return ", ".join(parts)


def _say(message: str) -> None:
    """One plain line on stdout: no markup, no wrapping (paths stay copyable)."""
    console.print(Text(message), soft_wrap=True)


def _where(entry: hub.ModelEntry) -> str:
    places = [
        label
        for label, path in (
            ("shipped", hub.shipped_path(entry)),
            ("cached", hub.cached_path(entry)),
        )
        if path.is_file()
    ]
    return ", ".join(places) or "-"


def _state(path: Path, entry: hub.ModelEntry) -> str:
    if not path.exists():
        return f"{path} (absent)"
    if hub.matches_entry(path, entry):
        return f"{path} (verified)"
    return f"{path} (sha256 mismatch: not used, will be downloaded again)"


def _count(number: int) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if number >= scale:
            return f"{number / scale:.1f}{suffix}"
    return str(number)


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
