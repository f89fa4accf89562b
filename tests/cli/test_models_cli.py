"""Tests of ``colorcli models``: table, download, info, remove and error messages."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from colorcli import hub
from colorcli.cli import models

runner = CliRunner()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def release(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served on 127.0.0.1 and its URL."""
    root = tmp_path / "release"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def entries(
    tmp_path: Path, release: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, hub.ModelEntry]:
    """Two published models, 'tiny' (default) and 'small', served by the loopback server."""
    root, url = release
    shipped = tmp_path / "shipped"
    published = {}
    for seed, name in enumerate(["tiny", "small"]):
        buffer = io.BytesIO()
        torch.save({"state_dict": {"w": torch.full((4,), float(seed))}}, buffer)
        src = tmp_path / f"{name}.pt"
        src.write_bytes(buffer.getvalue())
        entry = hub.publish_checkpoint(
            src,
            name,
            weights_dir=shipped,
            make_default=name == "tiny",
            arch="unet",
            head="palette-32",
            params=1_500_000,
            training_data="CIFAR-10 train",
            training_command=f"colorcli train --arch unet --out {name}.pt",
            metrics={"psnr": 22.25, "deltae": 9.5},
            licence="MIT",
            description=f"The {name} test model.",
        )
        (shipped / entry.file).rename(root / entry.file)
        published[name] = entry
    monkeypatch.setattr("colorcli.hub.manifest.shipped_weights_dir", lambda: shipped)
    monkeypatch.setenv(hub.ENV_WEIGHTS_URL, url)
    return published


@pytest.fixture
def cli() -> typer.Typer:
    """A root app mounting ``models.app`` the way ``colorcli.cli.app`` does."""
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        pass

    root.add_typer(models.app, name="models")
    return root


def test_the_colorcli_app_mounts_the_models_group() -> None:
    app_module = pytest.importorskip("colorcli.cli.app")
    result = runner.invoke(app_module.app, ["models", "--help"])
    assert result.exit_code == 0
    assert "download" in result.stdout


def test_models_without_subcommand_prints_the_table(
    cli: typer.Typer, entries: dict[str, hub.ModelEntry]
) -> None:
    result = runner.invoke(cli, ["models"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    tiny = next(line for line in lines if " tiny " in line)
    small = next(line for line in lines if " small " in line)
    assert "*" in tiny and "*" not in small
    assert "unet" in tiny and "palette-32" in tiny and "1.5M" in tiny and "psnr 22.25" in tiny
    listed = runner.invoke(cli, ["models", "list"], env={"COLUMNS": "160"})
    assert listed.stdout == result.stdout


def test_models_table_for_an_empty_manifest(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "manifest.json").write_text('{"format": 1, "default": null, "models": []}')
    monkeypatch.setattr("colorcli.hub.manifest.shipped_weights_dir", lambda: tmp_path)
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0
    assert result.stdout == f"No published models in {tmp_path / 'manifest.json'}.\n"


def test_download_fetches_into_the_cache_then_reports_it_present(
    cli: typer.Typer, entries: dict[str, hub.ModelEntry]
) -> None:
    result = runner.invoke(cli, ["models", "download", "tiny", "small", "--timeout", "5"])
    assert result.exit_code == 0, result.output
    for entry in entries.values():
        path = hub.cached_path(entry)
        assert hub.matches_entry(path, entry)
        assert f"{entry.name}: downloaded to {path}\n" in result.stdout
    again = runner.invoke(cli, ["models", "download", "tiny"])
    assert again.exit_code == 0
    assert again.stderr == ""
    assert again.stdout == f"tiny: already available at {hub.cached_path(entries['tiny'])}\n"


def test_download_failure_names_url_and_drop_in_path(
    cli: typer.Typer, entries: dict[str, hub.ModelEntry], release: tuple[Path, str]
) -> None:
    root, url = release
    entry = entries["small"]
    (root / entry.file).unlink()
    result = runner.invoke(cli, ["models", "download", "small"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: could not download model 'small' ({url}{entry.file}: HTTP 404 File not found);"
        f" download it by hand and save it as {hub.cached_path(entry)}\n"
    )


def test_info_shows_every_field(cli: typer.Typer, entries: dict[str, hub.ModelEntry]) -> None:
    entry = entries["tiny"]
    result = runner.invoke(cli, ["models", "info", "tiny"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in [
        entry.sha256,
        entry.file,
        "1,500,000",
        f"{entry.size:,} bytes",
        "CIFAR-10 train",
        "colorcli train --arch unet --out tiny.pt",
        "psnr: 22.25",
        "MIT",
        "The tiny test model.",
        hub.entry_urls(entry)[0],
        f"{hub.cached_path(entry)} (absent)",
    ]:
        assert text in result.stdout
    assert re.search(r"^default +yes", result.stdout, re.MULTILINE)


def test_remove_deletes_the_cached_copy_only(
    cli: typer.Typer, entries: dict[str, hub.ModelEntry]
) -> None:
    entry = entries["tiny"]
    assert runner.invoke(cli, ["models", "download", "tiny"]).exit_code == 0
    shipped = hub.shipped_path(entry)
    shipped.write_bytes(hub.cached_path(entry).read_bytes())

    result = runner.invoke(cli, ["models", "remove", "tiny"])
    assert result.exit_code == 0
    assert result.stdout == (
        f"Removed {hub.cached_path(entry)}\ntiny: kept the copy shipped with colorcli\n"
    )
    assert not hub.cached_path(entry).exists()
    assert shipped.exists()

    again = runner.invoke(cli, ["models", "remove", "small"])
    assert again.stdout == (
        f"small: nothing to remove, not in the cache at {hub.cached_path(entries['small'])}\n"
    )


@pytest.mark.parametrize("command", ["download", "info", "remove"])
def test_unknown_name_is_an_error(
    cli: typer.Typer, entries: dict[str, hub.ModelEntry], command: str
) -> None:
    result = runner.invoke(cli, ["models", command, "nope"])
    assert result.exit_code == 1
    assert result.stderr == "Error: unknown model 'nope'; available: small, tiny\n"
