"""SIGKILL at random points: nothing half-written, nothing left over, nothing redone, resume exact.

``colorcli colorize`` runs in a child ``python -m colorcli`` on 50 images and is killed
several times at random points (after a random number of finished images plus a random
delay, or at a random time during start-up), then re-run to completion. ``colorcli train``
is killed mid-epoch while it rewrites ``last.pt`` every step, then resumed to the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from robustness_support import child_env, colorcli_command, partials_under, snapshot
from typer.testing import CliRunner

from colorcli.checkpoint import model_from_checkpoint
from colorcli.cli.app import app
from colorcli.imageio import read_image
from colorcli.training import read_training_state
from support import gray_picture, save_noise_photos

IMAGES = 50
KILLS = 2
KILLS_SLOW = 8
CHILD_TIMEOUT = 300.0


@dataclass
class KillLog:
    """What the kills hit, for docs/reliability.md."""

    kills: int = 0
    outputs_at_kill: list[int] = field(default_factory=list)
    partials_left: list[int] = field(default_factory=list)
    removed_by_rerun: int = 0

    def __str__(self) -> str:
        return (
            f"{self.kills} kills; outputs at each kill {self.outputs_at_kill}; temporary files "
            f"left by each kill {self.partials_left}; removed by the completing run "
            f"{self.removed_by_rerun}"
        )


def _photos(folder: Path) -> dict[str, tuple[int, int]]:
    """50 gray pictures, PNG and JPEG, 320x240 (big enough that a write takes a while)."""
    folder.mkdir()
    sizes = {}
    for index in range(IMAGES):
        picture = gray_picture(320 - index % 3, 240 + index % 5, index)
        if index % 3:
            name = f"photo {index:02d}.png"
            picture.save(folder / name)
        else:
            name = f"photo {index:02d}.jpg"
            picture.save(folder / name, quality=90)
        sizes[name.rsplit(".", 1)[0]] = picture.size
    return sizes


def _finished(out: Path) -> list[Path]:
    """Outputs under their final names (hidden temporary files excluded)."""
    if not out.exists():
        return []
    return sorted(out / entry.name for entry in os.scandir(out) if not entry.name.startswith("."))


def _check_complete(outputs: list[Path], sizes: dict[str, tuple[int, int]]) -> None:
    """Every output decodes in full (a truncated PNG or JPEG raises) at its input's size."""
    for path in outputs:
        image = read_image(path)
        assert image.size == sizes[path.stem], path
        assert image.is_grayscale is False, path


def _kill_at_random(
    command: list[str], out: Path, rng: random.Random, log: KillLog, logs: Path, kills_left: int
) -> None:
    """Start ``command``; SIGKILL it at a random point (unless it finishes first).

    The point: after a random number of new outputs (at most a fair share of what remains
    for the ``kills_left`` kills), plus up to 20 ms; or at a random time of start-up.
    """
    done_before = len(_finished(out))
    remaining = IMAGES - done_before
    with (logs / f"kill{log.kills}.txt").open("wb") as output:
        child = subprocess.Popen(command, env=child_env(), stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + CHILD_TIMEOUT
            if rng.random() < 0.2:  # during start-up: model loading, planning, first reads
                time.sleep(rng.uniform(0.5, 4.0))
            else:
                target = done_before + rng.randint(1, max(1, (remaining - 1) // kills_left))
                while child.poll() is None and len(_finished(out)) < target:
                    assert time.monotonic() < deadline, "the child never got there"
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.02))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                log.kills += 1
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=60)
    log.outputs_at_kill.append(len(_finished(out)))
    log.partials_left.append(len(partials_under(out)))


def _kill_colorize_then_finish(
    tmp_path: Path, model: Path, kills: int, seed: int, *, finish_in_process: bool
) -> KillLog:
    sizes = _photos(tmp_path / "photos")
    before = snapshot(tmp_path / "photos")
    out = tmp_path / "out"
    logs = tmp_path / "logs"
    logs.mkdir()
    command = colorcli_command(
        "colorize", tmp_path / "photos", "-o", out, "--model", model, "--size", "64", "-q"
    )
    command += ["--batch-size", "4"]
    rng = random.Random(seed)
    log = KillLog()
    for kill in range(kills):
        _kill_at_random(command, out, rng, log, logs, kills_left=kills - kill)
        _check_complete(_finished(out), sizes)
        if len(_finished(out)) == IMAGES:
            break
    # the completing run: skips what is there, cleans what the kills left, does the rest
    existing = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in _finished(out)}
    left = partials_under(out)
    if finish_in_process:  # saves a child's start-up (seconds); the kills were real children
        result = CliRunner().invoke(app, command[3:])
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    else:
        final = subprocess.run(command, env=child_env(), capture_output=True, text=True)
        code, stdout, stderr = final.returncode, final.stdout, final.stderr
    assert code == 0, stdout + stderr
    expected = f"{IMAGES - len(existing)} done"
    if existing:
        expected += f", {len(existing)} skipped (output exists)"
    assert f"Summary: {expected}, 0 failed" in stdout, stdout
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in existing} == existing
    outputs = _finished(out)
    assert len(outputs) == IMAGES
    _check_complete(outputs, sizes)
    assert partials_under(tmp_path) == []
    assert snapshot(tmp_path / "photos") == before
    log.removed_by_rerun = len(left)
    return log


def test_colorize_killed_at_random_then_rerun_loses_nothing(tmp_path: Path, tiny_model: Path):
    log = _kill_colorize_then_finish(
        tmp_path, tiny_model, KILLS, seed=int(time.time()), finish_in_process=True
    )
    print(f"colorize: {log}")


@pytest.mark.slow
def test_colorize_killed_many_times_then_rerun_loses_nothing(tmp_path: Path, tiny_model: Path):
    log = _kill_colorize_then_finish(
        tmp_path, tiny_model, KILLS_SLOW, seed=int(time.time()), finish_in_process=False
    )
    print(f"colorize (slow): {log}")
    assert log.kills >= KILLS_SLOW // 2


# ------------------------------------------------------------------------------- train

TRAIN_EPOCHS = 3


def _train_args(data: Path, out: Path) -> list[str]:
    """12 steps an epoch, last.pt rewritten after every step (so kills land in saves)."""
    return [
        *("train", "--arch", "unet", "--width", "4", "--depth", "2", "--size", "16"),
        *("--batch-size", "4", "--epochs", str(TRAIN_EPOCHS), "--workers", "0"),
        *("--device", "cpu", "--val-limit", "8", "--save-every", "1", "--log-every", "1"),
        *("--data", str(data), "--out", str(out)),
    ]


def _check_checkpoints(out: Path) -> int:
    """last.pt (and best.pt) load in full; returns the step of last.pt."""
    state = read_training_state(out / "last.pt")
    model_from_checkpoint(state["model"], source="last.pt")
    if (out / "best.pt").exists():
        model_from_checkpoint(read_training_state(out / "best.pt")["model"], source="best.pt")
    return int(state["step"])


def _wait_for_a_save(path: Path, child_alive: object, after: int | None) -> None:
    """Wait until ``path`` is (re)written after mtime ``after`` (None: until it exists)."""
    assert callable(child_alive)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime_ns != after:
                return
        assert child_alive(), f"the child ended before writing {path}"
        assert time.monotonic() < deadline
        time.sleep(0.002)


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _forked_training(args: list[str]) -> int:
    """Run ``colorcli ARGS`` in a forked copy of this process (no import cost): its pid."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            CliRunner().invoke(app, args)
        finally:
            os._exit(0)
    return pid


def _alive(pid: int) -> bool:
    finished, _ = os.waitpid(pid, os.WNOHANG)
    return finished == 0


@pytest.mark.slow  # forks the test process: run with the slow tests, in their own process
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_train_killed_mid_epoch_resumes_exactly(tmp_path: Path) -> None:
    data = save_noise_photos(tmp_path / "data", train=48, val=8)
    run = tmp_path / "run"
    rng = random.Random(int(time.time()))
    steps, kills, partial_left = [], 0, 0
    # import what training imports lazily (torch.optim pulls in torch._dynamo: seconds) once
    # here, so that the forked children start training at once
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    for attempt in range(3):
        args = _train_args(data, run) if attempt == 0 else ["train", "--resume", "--out", str(run)]
        saved = _mtime(run / "last.pt")
        pid = _forked_training(args)
        try:
            _wait_for_a_save(run / "last.pt", lambda pid=pid: _alive(pid), saved)
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        partial_left += len(partials_under(run))
        steps.append(_check_checkpoints(run))
        if steps[-1] == TRAIN_EPOCHS * 12:
            break
    resumed = CliRunner().invoke(app, ["train", "--resume", "--out", str(run)])
    assert resumed.exit_code == 0, resumed.output
    if steps[-1] < TRAIN_EPOCHS * 12:
        epoch, step = steps[-1] // 12 + 1, steps[-1]
        assert f"at epoch {epoch}, step {step}" in resumed.stderr, resumed.stderr
    assert _check_checkpoints(run) == TRAIN_EPOCHS * 12
    assert partials_under(run) == []
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["complete"]] == [1, 2, 3]
    # the same weights as a run never interrupted (resume is exact, kills or not)
    straight = CliRunner().invoke(app, _train_args(data, tmp_path / "straight"))
    assert straight.exit_code == 0, straight.output
    expected = read_training_state(tmp_path / "straight" / "last.pt")["model"]["state_dict"]
    got = read_training_state(run / "last.pt")["model"]["state_dict"]
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    print(f"train (fork): {kills} kills at steps {steps}; temporary files left {partial_left}")


@pytest.mark.slow
def test_train_subprocess_killed_mid_epoch_resumes(tmp_path: Path) -> None:
    """The same with real ``python -m colorcli train`` children (each start costs seconds)."""
    data = save_noise_photos(tmp_path / "data", train=48, val=8)
    run = tmp_path / "run"
    rng = random.Random(int(time.time()))
    steps = []
    for attempt in range(2):
        args = _train_args(data, run) if attempt == 0 else ["train", "--resume", "--out", str(run)]
        saved = _mtime(run / "last.pt")
        child = subprocess.Popen(
            colorcli_command(*args),
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_a_save(run / "last.pt", lambda child=child: child.poll() is None, saved)
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        steps.append(_check_checkpoints(run))
    resumed = subprocess.run(
        colorcli_command("train", "--resume", "--out", run),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _check_checkpoints(run) == TRAIN_EPOCHS * 12
    assert partials_under(run) == []
    print(f"train (subprocess): killed at steps {steps}", file=sys.stderr)
