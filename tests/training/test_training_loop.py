"""The training loop on tiny synthetic data: formats, heads, resume, NaN, interrupts, export."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from colorcli.checkpoint import load_model, read_checkpoint
from colorcli.errors import TrainingError, UsageError
from colorcli.models import ColorModel
from colorcli.training import (
    StepUpdate,
    TrainingObserver,
    load_resume,
    read_training_state,
    train,
)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


@pytest.mark.parametrize("data_kind", ["image_folder", "npy_folder", "cifar_folder"])
def test_two_step_run_on_each_data_format(data_kind, request, tmp_path, fast_config):
    data = request.getfixturevalue(data_kind)
    result = train(fast_config(tmp_path / "run", data))
    assert result.stopped == "finished"
    assert result.step == 2
    assert result.images_seen == 8
    assert result.last_path.is_file() and result.best_path is not None
    record = result.last_record
    assert record is not None and record["complete"] is True
    assert record["val_images"] >= 1
    assert 0 < record["val_psnr"] < 100
    assert record["val_colorfulness"] >= 0


@pytest.mark.parametrize(("colors", "classes"), [(None, None), (4, 4), ("gamut", None)])
def test_heads_regression_palette_gamut(colors, classes, image_folder, tmp_path, fast_config):
    result = train(fast_config(tmp_path / "run", image_folder, colors=colors))
    model = load_model(result.last_path)
    assert model.is_classifier == (colors is not None)
    if colors is not None:
        centres = model.head.centres
        assert centres.abs().sum() > 0  # fitted, not the zero placeholder
        if classes is not None:
            assert centres.shape == (classes, 2)
        if colors == "gamut":
            assert model.config["num_classes"] == centres.shape[0] >= 2
            assert not torch.allclose(model.head.class_weights, torch.ones_like(centres[:, 0]))


def test_run_folder_contents(image_folder, tmp_path, fast_config):
    out = tmp_path / "run"
    result = train(fast_config(out, image_folder, epochs=2))
    for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "loss_curve.png"):
        assert (out / name).is_file(), name
    assert (out / "samples" / "epoch_001.png").is_file()
    assert (out / "samples" / "epoch_002.png").is_file()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,step,")
    summary = read_checkpoint(out / "last.pt")["training"]
    assert summary["epochs"] == 2 and summary["steps"] == 4 and summary["images_seen"] == 16
    assert summary["hours"] > 0
    assert summary["device"].startswith("cpu")
    assert summary["sessions"][0]["command"]
    assert result.epochs_completed == 2


def _interrupted_then_resumed(config, stop_at: int) -> Path:
    first = train(config.__class__(**{**config.as_dict(), "max_steps": stop_at}))
    assert first.stopped == "max steps" and first.step == stop_at
    resumed_config, state, path = load_resume(config.out)
    assert state["step"] == stop_at
    second = train(resumed_config, resume_state=state, resume_path=path)
    assert second.stopped == "finished"
    return second.last_path


@pytest.mark.parametrize("stop_at", [1, 2, 3], ids=["mid-epoch", "epoch-boundary", "mid-epoch-2"])
def test_resume_gives_the_same_weights(stop_at, image_folder, tmp_path, fast_config):
    # 8 images, batch 4: 2 steps per epoch, 2 epochs = 4 steps.
    settings = {"epochs": 2, "colors": 4, "limit": 8}
    straight = train(fast_config(tmp_path / "straight", image_folder, **settings))
    resumed = _interrupted_then_resumed(
        fast_config(tmp_path / "resumed", image_folder, **settings), stop_at
    )
    expected, got = _weights(straight.last_path), _weights(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    state = read_training_state(resumed)
    assert state["step"] == 4 and state["epoch"] == 2
    summary = state["model"]["training"]
    assert summary["steps"] == 4 and summary["images_seen"] == 16
    assert len(summary["sessions"]) == 2
    assert summary["hours"] >= summary["sessions"][0]["hours"]


def test_resume_refuses_changed_model_settings(image_folder, tmp_path, fast_config):
    config = fast_config(tmp_path / "run", image_folder, max_steps=1)
    train(config)
    with pytest.raises(UsageError, match=r"--width 8 differs from the run being resumed \(4\)"):
        load_resume(None, settings={"out": str(tmp_path / "run"), "width": 8})
    resumed, _, _ = load_resume(tmp_path / "run", settings={"epochs": 3})
    assert resumed.epochs == 3


def test_existing_run_folder_is_not_overwritten(image_folder, tmp_path, fast_config):
    train(fast_config(tmp_path / "run", image_folder))
    with pytest.raises(UsageError, match="already holds a run"):
        train(fast_config(tmp_path / "run", image_folder))


def test_corrupt_image_is_skipped_and_counted(image_folder, tmp_path, fast_config):
    (image_folder / "train" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = train(fast_config(tmp_path / "run", image_folder, limit=None))
    assert result.data["skipped_unreadable"] == 1
    assert "broken.png" in result.data["unreadable"][0][0]
    assert result.step == 2
    summary = read_checkpoint(result.last_path)["training"]
    assert summary["data"]["skipped_unreadable"] == 1


def test_nan_loss_stops_and_keeps_last_checkpoint(image_folder, tmp_path, fast_config, monkeypatch):
    original = ColorModel.loss
    calls = {"count": 0}

    def poisoned(self, output, ab):
        calls["count"] += 1
        loss = original(self, output, ab)
        return loss * float("nan") if calls["count"] > 2 else loss

    monkeypatch.setattr(ColorModel, "loss", poisoned)
    out = tmp_path / "run"
    config = fast_config(out, image_folder, epochs=3, val_limit=0)
    with pytest.raises(
        TrainingError, match=r"loss is nan at step 2 .*last\.pt \(step 2\) is intact"
    ):
        train(config)
    state = read_training_state(out / "last.pt")
    assert state["step"] == 2
    for value in state["model"]["state_dict"].values():
        assert torch.isfinite(value.float()).all()


def test_nan_before_any_checkpoint_says_so(image_folder, tmp_path, fast_config, monkeypatch):
    monkeypatch.setattr(ColorModel, "loss", lambda self, output, ab: output.sum() * float("inf"))
    with pytest.raises(TrainingError, match="no checkpoint had been written yet"):
        train(fast_config(tmp_path / "run", image_folder))
    assert not (tmp_path / "run").exists()  # not even config.json (issue 16 item 6)


def test_first_step_failing_leaves_no_run_folder(image_folder, tmp_path, fast_config, monkeypatch):
    def fail(self, output, ab):
        raise RuntimeError("the first step failed")

    monkeypatch.setattr(ColorModel, "loss", fail)
    with pytest.raises(RuntimeError, match="the first step failed"):
        train(fast_config(tmp_path / "run", image_folder))
    assert not (tmp_path / "run").exists()


class _InterruptAt(TrainingObserver):
    def __init__(self, step: int, how: str) -> None:
        self.step = step
        self.how = how

    def on_step(self, update: StepUpdate) -> None:
        if update.step == self.step:
            if self.how == "signal":
                os.kill(os.getpid(), signal.SIGINT)
            else:
                raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["signal", "exception"])
def test_ctrl_c_saves_last_and_stops(how, image_folder, tmp_path, fast_config):
    out = tmp_path / "run"
    result = train(fast_config(out, image_folder, epochs=2), observer=_InterruptAt(1, how))
    assert result.stopped == "interrupted"
    assert result.step == 1
    state = read_training_state(out / "last.pt")
    assert state["step"] == 1 and state["step_in_epoch"] == 1
    assert state["model"]["training"]["sessions"][-1]["stopped"] == "interrupted"


def test_max_minutes_stops_cleanly_with_best_and_export(image_folder, tmp_path, fast_config):
    export = tmp_path / "model.pt"
    config = fast_config(
        tmp_path / "run",
        image_folder,
        epochs=50,
        max_minutes=1e-9,
        export=str(export),
        export_half=True,
    )
    result = train(config)
    assert result.stopped == "time budget"
    assert result.step == 0  # the budget is spent before the first step
    assert result.last_path.is_file()
    assert result.export_path == export
    exported = read_checkpoint(export)
    assert "optimizer" not in exported
    assert all(
        v.dtype == torch.float16 for v in exported["state_dict"].values() if v.is_floating_point()
    )
    assert load_model(export).arch == "tiny"


def test_stop_mid_epoch_validates_and_writes_best(image_folder, tmp_path, fast_config):
    result = train(fast_config(tmp_path / "run", image_folder, epochs=3, max_steps=1))
    assert result.stopped == "max steps"
    assert result.best_path is not None and result.best_path.is_file()
    assert result.last_record is not None
    assert result.last_record["complete"] is False
    assert result.last_record["epoch"] == 0.5
    assert (tmp_path / "run" / "samples" / "epoch_001.png").is_file()


def test_export_and_init_from(image_folder, tmp_path, fast_config):
    export = tmp_path / "exported.pt"
    first = train(fast_config(tmp_path / "a", image_folder, colors=4, export=str(export)))
    assert first.export_path == export
    exported = load_model(export)
    second = train(fast_config(tmp_path / "b", image_folder, colors=4, init_from=str(export)))
    model = load_model(second.last_path)
    assert torch.equal(model.head.centres, exported.head.centres)


def test_init_from_another_architecture_is_refused(image_folder, tmp_path, fast_config):
    first = train(fast_config(tmp_path / "a", image_folder))
    with pytest.raises(TrainingError, match="is a 'tiny' model, not 'linear'; use --arch tiny"):
        train(
            fast_config(
                tmp_path / "b",
                image_folder,
                arch="linear",
                width=None,
                init_from=str(first.last_path),
            )
        )


def test_no_data_uses_the_builtin_demo(tmp_path, fast_config):
    result = train(fast_config(tmp_path / "run", None))
    assert result.data["kind"] == "builtin"
    assert result.step >= 1
