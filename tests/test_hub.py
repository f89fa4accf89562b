"""Tests of colorcli.hub: manifest, resolution order, cache and verified downloads."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import platformdirs
import pytest
import torch

from colorcli import hub
from colorcli.atomic import partial_path
from colorcli.errors import CheckpointError, DownloadError, ModelError

TIMEOUT = 1.0


@dataclass
class LoopbackServer:
    """Serves ``root`` on 127.0.0.1; ``mode`` switches how it misbehaves."""

    root: Path
    url: str = ""
    mode: str = "normal"  # normal, 404, truncated, hang, wrong, slow
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            file = server.root / self.path.lstrip("/")
            if server.mode == "404" or not file.is_file():
                self.send_error(404)
                return
            body = file.read_bytes()
            if server.mode == "hang":
                server.release.wait(10 * TIMEOUT)
                return
            if server.mode == "wrong":
                body = bytes(reversed(body))
            self.send_response(200)
            extra = 1000 if server.mode == "truncated" else 0
            self.send_header("Content-Length", str(len(body) + extra))
            self.end_headers()
            if server.mode == "truncated":
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            step = max(1, len(body) // 4) if server.mode == "slow" else len(body)
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                if server.mode == "slow":
                    time.sleep(0.1)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LoopbackServer]:
    root = tmp_path / "release"
    root.mkdir()
    state = LoopbackServer(root=root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Published:
    entry: hub.ModelEntry
    manifest: hub.Manifest
    shipped: Path
    data: bytes


def _tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    generator = torch.Generator().manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({"state_dict": {"weight": torch.randn(8, 8, generator=generator)}}, buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def published(tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> Published:
    """One entry 'tiny' whose file the server holds; the shipped dir has only the manifest."""
    shipped = tmp_path / "shipped"
    src = _tiny_checkpoint(tmp_path / "tiny.pt")
    entry = hub.publish_checkpoint(
        src,
        "tiny",
        weights_dir=shipped,
        make_default=True,
        arch="unet",
        head="regression",
        params=64,
        metrics={"psnr": 21.5},
    )
    shutil.move(shipped / entry.file, server.root / entry.file)
    monkeypatch.setattr("colorcli.hub.manifest.shipped_weights_dir", lambda: shipped)
    monkeypatch.setenv(hub.ENV_WEIGHTS_URL, server.url)
    return Published(entry, hub.load_manifest(), shipped, src.read_bytes())


def _partials(directory: Path) -> list[Path]:
    return list(directory.rglob("*.partial")) if directory.exists() else []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- manifest and publishing -----------------------------------------------------------------


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"colorcli" * 10_000)
    assert hub.sha256_file(path) == hashlib.sha256(b"colorcli" * 10_000).hexdigest()


def test_repository_manifest_loads() -> None:
    manifest = hub.load_manifest()
    assert manifest.path == hub.shipped_weights_dir() / "manifest.json"
    assert manifest.default is None or manifest.default in manifest.names()


def test_publish_checkpoint_names_file_by_hash_and_writes_stable_json(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    src = _tiny_checkpoint(tmp_path / "a.pt")
    digest = hub.sha256_file(src)
    entry = hub.publish_checkpoint(
        src, "zeta", weights_dir=weights, arch="unet", head="palette-32", params=10
    )
    assert entry.file == f"zeta-{digest[:8]}.pt"
    assert (entry.sha256, entry.size, entry.urls) == (digest, src.stat().st_size, (entry.file,))
    assert (weights / entry.file).read_bytes() == src.read_bytes()
    hub.publish_checkpoint(
        src, "alpha", weights_dir=weights, arch="resnet", head="gamut-313", make_default=True
    )
    text = (weights / "manifest.json").read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2) + "\n"
    assert list(data) == ["format", "default", "models"]
    assert [m["name"] for m in data["models"]] == ["alpha", "zeta"]
    assert data["default"] == "alpha"
    assert list(data["models"][0])[:4] == ["name", "aliases", "file", "sha256"]

    newer = _tiny_checkpoint(tmp_path / "b.pt", seed=1)
    replaced = hub.publish_checkpoint(newer, "zeta", weights_dir=weights, arch="unet", head="x")
    manifest = hub.load_manifest(weights / "manifest.json")
    assert manifest.names() == ["alpha", "zeta"]
    assert manifest.get("zeta") == replaced != entry
    assert manifest.default == "alpha"


def test_publish_checkpoint_rejects_unknown_metadata(tmp_path: Path) -> None:
    src = _tiny_checkpoint(tmp_path / "a.pt")
    with pytest.raises(ModelError, match="unknown metadata colour"):
        hub.publish_checkpoint(
            src, "a", weights_dir=tmp_path / "w", arch="unet", head="r", colour="red"
        )


def _entry_dict(name: str = "m", sha: str = "ab" * 32) -> dict[str, object]:
    return {
        "name": name,
        "file": f"{name}-{sha[:8]}.pt",
        "sha256": sha,
        "size": 10,
        "arch": "unet",
        "head": "regression",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 2, "models": []}, "unsupported manifest format 2"),
        ({"format": 1, "models": [_entry_dict(), _entry_dict()]}, "used by both 'm' and 'm'"),
        ({"format": 1, "default": "x", "models": [_entry_dict()]}, "default model 'x'"),
        ({"format": 1, "models": [{**_entry_dict(), "file": "m-00000000.pt"}]}, "file must be"),
        ({"format": 1, "models": [{**_entry_dict(), "size": "10"}]}, "'size' must be int"),
        ({"format": 1, "models": [{**_entry_dict(), "sha256": "12"}]}, "sha256 must be 64"),
        ({"format": 1, "models": [{**_entry_dict(), "file": "../m.pt"}]}, "file must be"),
    ],
)
def test_manifest_rejects_bad_data(tmp_path: Path, data: dict, message: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=message):
        hub.load_manifest(path)


def test_manifest_lookup_by_alias_and_file_and_unknown_name() -> None:
    entry = hub.ModelEntry.from_dict({**_entry_dict("big"), "aliases": ["large"]})
    other = hub.ModelEntry.from_dict(_entry_dict("small", "cd" * 32))
    manifest = hub.Manifest(models=(entry, other), default="small")
    assert manifest.get("large") is entry
    assert manifest.get(entry.file) is entry
    assert hub.get_entry("default", manifest) is other
    assert hub.default_model_name(manifest) == "small"
    with pytest.raises(ModelError, match=r"^unknown model 'x'; available: big, small$"):
        manifest.get("x")


def test_missing_manifest_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model manifest not found"):
        hub.load_manifest(tmp_path / "nope.json")


# --- locations -------------------------------------------------------------------------------


def test_cache_dir_honours_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, published: Published
) -> None:
    monkeypatch.setenv("COLORCLI_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert hub.cache_dir() == tmp_path / "elsewhere"
    path = hub.resolve_checkpoint("tiny", timeout=TIMEOUT)
    assert path == tmp_path / "elsewhere" / "checkpoints" / published.entry.file
    monkeypatch.delenv("COLORCLI_CACHE_DIR")
    assert hub.cache_dir() == Path(platformdirs.user_cache_dir("colorcli"))


def test_shipped_weights_dir_is_the_repository_weights_in_a_checkout(repo_root: Path) -> None:
    assert hub.shipped_weights_dir() == repo_root / "weights"


def test_relative_urls_join_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = hub.ModelEntry.from_dict({**_entry_dict(), "urls": ["m.pt", "https://x.org/m.pt"]})
    monkeypatch.delenv(hub.ENV_WEIGHTS_URL, raising=False)
    assert hub.entry_urls(entry) == [hub.DEFAULT_WEIGHTS_URL + "m.pt", "https://x.org/m.pt"]
    monkeypatch.setenv(hub.ENV_WEIGHTS_URL, "http://mirror/w")
    assert hub.entry_urls(entry)[0] == "http://mirror/w/m.pt"


# --- resolution and download -----------------------------------------------------------------


def test_first_call_downloads_and_second_uses_cache(
    published: Published, server: LoopbackServer
) -> None:
    seen: list[int] = []
    path = hub.resolve_checkpoint("tiny", progress=lambda e, done: seen.append(done))
    assert path == hub.cached_path(published.entry)
    assert path.read_bytes() == published.data
    assert seen[0] == 0 and seen[-1] == published.entry.size
    assert server.requests == [f"/{published.entry.file}"]
    assert hub.resolve_checkpoint("tiny") == path
    assert hub.resolve_checkpoint(None) == path
    assert hub.resolve_checkpoint("default") == path
    assert len(server.requests) == 1
    assert _partials(hub.cache_dir()) == []


def test_downloaded_file_loads_with_weights_only(published: Published) -> None:
    state = torch.load(hub.resolve_checkpoint("tiny"), weights_only=True)
    assert state["state_dict"]["weight"].shape == (8, 8)


def test_wrong_content_names_both_hashes_and_leaves_nothing(
    published: Published, server: LoopbackServer
) -> None:
    server.mode = "wrong"
    with pytest.raises(DownloadError) as caught:
        hub.resolve_checkpoint("tiny", timeout=TIMEOUT)
    actual = hashlib.sha256(bytes(reversed(published.data))).hexdigest()
    assert f"expected {published.entry.sha256}, got {actual}" in str(caught.value)
    assert not hub.cached_path(published.entry).exists()
    assert _partials(hub.cache_dir()) == []


def test_truncated_response_fails_without_partial(
    published: Published, server: LoopbackServer
) -> None:
    server.mode = "truncated"
    with pytest.raises(DownloadError, match="connection closed after"):
        hub.resolve_checkpoint("tiny", timeout=TIMEOUT)
    assert not hub.cached_path(published.entry).exists()
    assert _partials(hub.cache_dir()) == []


def test_404_names_url_and_drop_in_path(published: Published, server: LoopbackServer) -> None:
    server.mode = "404"
    with pytest.raises(DownloadError) as caught:
        hub.resolve_checkpoint("tiny", timeout=TIMEOUT)
    message = str(caught.value)
    assert f"{server.url}{published.entry.file}: HTTP 404" in message
    assert message.endswith(f"save it as {hub.cached_path(published.entry)}")
    assert _partials(hub.cache_dir()) == []


def test_hanging_server_times_out(published: Published, server: LoopbackServer) -> None:
    server.mode = "hang"
    start = time.monotonic()
    with pytest.raises(DownloadError, match=re.escape("timed out after 0.3 s")):
        hub.resolve_checkpoint("tiny", timeout=0.3)
    assert time.monotonic() - start < 5 * TIMEOUT
    assert _partials(hub.cache_dir()) == []


def test_unreachable_host_is_reported(
    published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    monkeypatch.setenv(hub.ENV_WEIGHTS_URL, url)
    with pytest.raises(
        DownloadError, match=re.escape(f"{url}{published.entry.file}: Connection refused")
    ):
        hub.resolve_checkpoint("tiny", timeout=TIMEOUT)


def test_no_download_when_not_allowed(published: Published, server: LoopbackServer) -> None:
    with pytest.raises(DownloadError, match="is not downloaded"):
        hub.resolve_checkpoint("tiny", download=False)
    assert server.requests == []


def test_tampered_cache_file_is_replaced(published: Published, server: LoopbackServer) -> None:
    path = hub.resolve_checkpoint("tiny")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    assert hub.local_checkpoint(published.entry) is None
    assert hub.resolve_checkpoint("tiny") == path
    assert path.read_bytes() == published.data
    assert len(server.requests) == 2


def test_tampered_shipped_file_is_never_used(published: Published, server: LoopbackServer) -> None:
    shipped = published.shipped / published.entry.file
    shipped.write_bytes(published.data[:-1] + bytes([published.data[-1] ^ 0xFF]))
    path = hub.resolve_checkpoint("tiny")
    assert path == hub.cached_path(published.entry)
    assert path.read_bytes() == published.data
    assert shipped.read_bytes() != published.data  # shipped files are never rewritten
    assert len(server.requests) == 1


def test_resolution_order_path_then_shipped_then_cache(
    published: Published, server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = hub.resolve_checkpoint("tiny")
    assert cached == hub.cached_path(published.entry)

    shipped = published.shipped / published.entry.file
    shipped.write_bytes(published.data)
    assert hub.resolve_checkpoint("tiny") == shipped

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").write_bytes(b"a local file called like the model")
    assert hub.resolve_checkpoint("tiny") == Path("tiny")
    assert hub.resolve_checkpoint(tmp_path / "tiny") == tmp_path / "tiny"
    assert len(server.requests) == 1


def test_missing_path_and_unknown_name_and_no_default(published: Published, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        hub.resolve_checkpoint(str(tmp_path / "nope.pt"))
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        hub.resolve_checkpoint(tmp_path / "nope")
    with pytest.raises(ModelError, match=r"^unknown model 'nope'; available: tiny$"):
        hub.resolve_checkpoint("nope")
    with pytest.raises(ModelError, match="no default model"):
        hub.resolve_checkpoint(None, manifest=hub.Manifest())


def test_remove_cached_removes_only_the_cache(published: Published) -> None:
    cached = hub.resolve_checkpoint("tiny")
    leftover = partial_path(cached)
    leftover.write_bytes(b"x")
    shipped = published.shipped / published.entry.file
    shipped.write_bytes(published.data)
    assert sorted(hub.remove_cached("tiny")) == sorted([cached, leftover])
    assert not cached.exists() and not leftover.exists()
    assert shipped.exists()
    assert hub.remove_cached("tiny") == []


_CHILD = """
import sys
from colorcli import hub
entry = hub.load_manifest(sys.argv[1]).get("tiny")
print(hub.download_entry(entry, timeout=10))
"""


def test_concurrent_downloads_end_with_one_good_file(
    published: Published, server: LoopbackServer
) -> None:
    server.mode = "slow"
    manifest = str(published.shipped / "manifest.json")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, manifest],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    target = hub.cached_path(published.entry)
    assert {Path(out.strip()) for out, _ in outputs} == {target}
    assert target.read_bytes() == published.data
    assert len(server.requests) == 2
    assert _partials(hub.cache_dir()) == []


def test_concurrent_downloads_in_threads(published: Published, server: LoopbackServer) -> None:
    server.mode = "slow"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(hub.download_entry(published.entry)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [hub.cached_path(published.entry)] * 3
    assert results[0].read_bytes() == published.data
    assert _partials(hub.cache_dir()) == []


@pytest.mark.slow
def test_wheel_ships_the_manifest(repo_root: Path, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(repo_root)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("colorcli-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "colorcli/weights/manifest.json" in archive.namelist()
        assert "colorcli/hub/__init__.py" in archive.namelist()
