"""``colorcli serve`` as a user starts it: prints the URL, serves, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from serve_support import request
from typer.testing import CliRunner

from colorcli.cli.app import app


def test_ctrl_c_stops_the_server_and_removes_its_temporary_folder(
    guided_checkpoint: Path, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "colorcli", "serve", "--port", "0", "--device", "cpu"]
    process = subprocess.Popen(
        [*command, "--model", str(guided_checkpoint), "--size", "32"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), url
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        assert request(port, "GET", "/").status == 200
        assert [path.name[:14] for path in temp.iterdir()] == ["colorcli-serve"]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "takes hints" in stderr and "colorcli serve: stopped" in stderr
    assert "GET / 200" not in stderr  # page files are not logged, API calls are
    assert list(temp.iterdir()) == []


def test_a_taken_port_is_a_one_line_error(guided_checkpoint: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "--port", str(port), "--model", str(guided_checkpoint)]
        )
    assert result.exit_code == 2
    assert f"Error: cannot listen on 127.0.0.1:{port}: " in result.output


def test_an_unknown_model_fails_before_listening() -> None:
    result = CliRunner().invoke(app, ["serve", "--model", "nope", "--port", "0"])
    assert result.exit_code == 1
    assert "Error: unknown model 'nope'; available: " in result.output
