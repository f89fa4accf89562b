"""Fixtures of the serve tests: tiny checkpoints and servers on an ephemeral loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from serve_support import save_guided_checkpoint, save_regression_checkpoint

from colorcli.checkpoint import load_model
from colorcli.pipeline import Colorizer
from colorcli.serve import ColorizeServer, ServeSettings

TEST_SIZE = 32
"""Inference size of the test servers (tiny: the tests run at low priority on 2 cores)."""


@pytest.fixture(scope="session")
def guided_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_guided_checkpoint(tmp_path_factory.mktemp("guided") / "guided.pt")


@pytest.fixture(scope="session")
def regression_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_regression_checkpoint(tmp_path_factory.mktemp("regression") / "unet.pt")


ServerFactory = Callable[..., ColorizeServer]


@pytest.fixture
def make_server(guided_checkpoint: Path) -> Iterator[ServerFactory]:
    """Start servers on 127.0.0.1 with a free port; all are closed after the test."""
    servers: list[ColorizeServer] = []

    def start(checkpoint: Path | None = None, **settings: object) -> ColorizeServer:
        path = checkpoint or guided_checkpoint
        colorizer = Colorizer(load_model(path), size=TEST_SIZE)
        server = ColorizeServer(
            colorizer,
            label=str(path),
            settings=ServeSettings(host="127.0.0.1", port=0, **settings),  # type: ignore[arg-type]
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def server(make_server: ServerFactory) -> ColorizeServer:
    """A server of the guided model with default limits."""
    return make_server()
