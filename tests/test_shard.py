"""``--shard K/N``: disjoint parts of one folder whose union is a single run's output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from colorcli.cli.app import app
from colorcli.errors import UsageError
from colorcli.imageio import read_image
from colorcli.jobs import Job
from colorcli.sharding import (
    Shard,
    local_rank_device,
    parse_shard,
    select_shard,
    shard_from_environment,
)
from support import save_tiny_checkpoint
from tolerances import assert_same_8bit

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return save_tiny_checkpoint(tmp_path / "tiny.pt")


@pytest.fixture
def album(tmp_path: Path) -> Path:
    """Eleven small gray photos, some in sub-folders."""
    root = tmp_path / "album"
    rng = np.random.default_rng(0)
    for index in range(11):
        folder = root / ("1950s" if index % 3 == 0 else "") / ("summer" if index % 4 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        width, height = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"photo{index:02}.png")
    return root


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {
        p.relative_to(folder).as_posix(): read_image(p).pixels
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _colorize(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, ["colorize", *map(str, args)], env=env)


def test_three_shards_make_one_run(album: Path, checkpoint: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    result = _colorize(album, "-o", single, "-r", "-m", checkpoint, "--device", "cpu")
    assert result.exit_code == 0, result.output
    sharded = tmp_path / "sharded"
    parts = []
    for index in (1, 2, 3):
        result = _colorize(
            album, "-o", sharded, "-r", "-m", checkpoint, "--device", "cpu", "--shard", f"{index}/3"
        )
        assert result.exit_code == 0, result.output
        assert f"(shard {index}/3)" in result.stderr
        parts.append(result.stdout)
    assert ["4 done" in parts[0], "4 done" in parts[1], "3 done" in parts[2]] == [True] * 3
    expected, got = _images(single), _images(sharded)
    assert len(expected) == 11
    assert list(got) == list(expected)
    # shards batch the photos differently: a pixel may move one level (see tolerances.py)
    for name, pixels in expected.items():
        assert_same_8bit(got[name], pixels, name)


def _job(relative: str) -> Job:
    return Job(
        source=Path("/in") / relative, output=Path("/out") / relative, relative=Path(relative)
    )


def test_shards_are_disjoint_balanced_and_cover_everything() -> None:
    jobs = [_job(f"{name}.jpg") for name in ("d", "a", "c/x", "b", "c/a", "e", "f")]
    parts = [select_shard(jobs, Shard(k, 3)) for k in (1, 2, 3)]
    names = [[job.relative.as_posix() for job in part] for part in parts]
    assert names == [["a.jpg", "c/x.jpg", "f.jpg"], ["b.jpg", "d.jpg"], ["c/a.jpg", "e.jpg"]]
    assert select_shard(list(reversed(jobs)), Shard(2, 3)) == parts[1]  # order does not matter
    assert select_shard(jobs, None) == jobs
    assert select_shard(jobs, Shard(1, 1)) == jobs
    assert select_shard(jobs[:2], Shard(3, 3)) == []


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/0", "-1/3", "1/3/5", ""])
def test_bad_shard_is_a_usage_error(
    text: str, album: Path, checkpoint: Path, tmp_path: Path
) -> None:
    result = _colorize(album, "-o", tmp_path / "out", "-m", checkpoint, "--shard", text)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: --shard must be K/N with 1 <= K <= N (e.g. 2/4), or auto, got"
    )
    assert not (tmp_path / "out").exists()


def test_parse_shard() -> None:
    assert parse_shard("2/5") == Shard(2, 5)
    assert parse_shard(" 1/1 ") == Shard(1, 1)
    assert str(Shard(3, 4)) == "3/4"
    with pytest.raises(UsageError, match="got '2-5'"):
        parse_shard("2-5")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}, Shard(1, 4)),
        ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}, Shard(6, 8)),
        ({"LOCAL_RANK": "2", "WORLD_SIZE": "3"}, Shard(3, 3)),
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "10"}, Shard(1, 10)),
        (
            {
                "SLURM_ARRAY_TASK_ID": "7",
                "SLURM_ARRAY_TASK_MIN": "5",
                "SLURM_ARRAY_TASK_COUNT": "3",
            },
            Shard(3, 3),
        ),
    ],
)
def test_shard_from_environment(environ: dict[str, str], expected: Shard) -> None:
    assert shard_from_environment(environ) == expected
    assert parse_shard("auto", environ) == expected


def test_auto_shard_without_a_launcher_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--shard auto needs RANK and WORLD_SIZE"):
        shard_from_environment({})
    with pytest.raises(UsageError, match="WORLD_SIZE must be a whole number, got 'x'"):
        shard_from_environment({"RANK": "0", "WORLD_SIZE": "x"})
    with pytest.raises(UsageError, match="got 4/3"):
        shard_from_environment({"RANK": "3", "WORLD_SIZE": "3"})


def test_auto_shard_from_torchrun_variables(
    album: Path, checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "out"
    for rank in ("0", "1"):
        env = {"RANK": rank, "WORLD_SIZE": "2", "LOCAL_RANK": rank}
        result = _colorize(album, "-o", out, "-r", "-m", checkpoint, "--shard", "auto", env=env)
        assert result.exit_code == 0, result.output
        assert f"(shard {int(rank) + 1}/2)" in result.stderr
    assert len(_images(out)) == 11
    result = _colorize(album, "-o", out, "-m", checkpoint, "--shard", "auto")
    assert result.exit_code == 2
    assert "Error: --shard auto needs RANK and WORLD_SIZE" in result.stderr


def test_local_rank_picks_a_gpu_only_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_rank_device({}) == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert local_rank_device({"LOCAL_RANK": "3"}) == "cuda:1"
    assert local_rank_device({"LOCAL_RANK": "x"}) == "auto"
