"""Run every benchmark and write docs/benchmarks.md: ``uv run python benchmarks/run.py [--quick]``.

Sections: colourize throughput against the I/O floor (same folder only decoded and
re-encoded, measured alternately in the same run) for each shipped model (or the
default architecture with random weights) and the ECCV16 body; the ECCV16 authors'
demo pipeline for scale; peak resident memory in fresh processes; training
throughput per architecture. CUDA rows are added when a GPU is present. Absolute
figures move with the machine's load; the ratios are taken within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from folders import make_folder, source_photos
from inference import inference_throughput
from reference import run_reference
from speed import Throughput, measure
from training_speed import training_throughput

from colorcli.checkpoint import load_model
from colorcli.hub import default_model_name, list_entries, local_checkpoint
from colorcli.imageio import read_image
from colorcli.models import ColorModel, get_model, list_models
from colorcli.pipeline import Colorizer
from colorcli.runner import STAGES, cpu_count

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCH = {"width": 16, "depth": 4, "output_stride": 2}


@dataclass(frozen=True)
class Plan:
    """How much each section runs (quick for CI, full for the docs)."""

    name: str
    sides: dict[int, int]
    """Long side (px) -> images in the folder."""
    repeats: int
    heavy_repeats: int
    reference: dict[int, int]
    memory: list[tuple[int, int, int, int]]
    """(long side, fewer images, more images or 0, runs of each: the highest peak counts)."""
    training_sizes: tuple[int, ...]
    training_batch: dict[int, int]
    training_seconds: float
    training_steps: int


QUICK = Plan(
    name="quick",
    sides={512: 8, 1024: 8},
    repeats=1,
    heavy_repeats=1,
    reference={512: 3},
    memory=[(4000, 10, 20, 1), (12000, 1, 0, 1)],
    training_sizes=(128,),
    training_batch={128: 4},
    training_seconds=0.5,
    training_steps=2,
)
FULL = Plan(
    name="full",
    sides={512: 48, 1024: 32, 4000: 8},
    repeats=2,
    heavy_repeats=1,
    reference={512: 12, 1024: 8, 4000: 2},
    memory=[(4000, 10, 200, 1), (12000, 1, 3, 2)],
    training_sizes=(128, 256),
    training_batch={128: 8, 256: 4},
    training_seconds=2.0,
    training_steps=10,
)


@dataclass
class Results:
    machine: dict[str, str]
    photos: str
    colorize: list[tuple[str, str, str, int, Throughput]] = field(default_factory=list)
    """(label, role: default / shipped / body, device, long side, figures)."""
    reference: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    """(side, images, reference seconds, I/O floor seconds, threads)."""
    memory: list[dict[str, Any]] = field(default_factory=list)
    training: list[tuple[str, int, str, float]] = field(default_factory=list)
    inference: list[tuple[str, str, int, float, float]] = field(default_factory=list)
    """(label, device, inference size, forward img/s, prepare + forward + join img/s)."""
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def describe_machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{int(memory) / 1024**2:.0f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    gpu = (
        f"{torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} device(s))"
        if torch.cuda.is_available()
        else "no GPU lent (CUDA rows not measured)"
    )
    return {
        "CPU": f"{cpu}, {cpu_count()} core(s) available to this process",
        "Memory": ram,
        "GPU": gpu,
        "System": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "torch": f"{torch.__version__}, {torch.get_num_threads()} intra-op thread(s) by default",
        "Load average at start": load_average(),
    }


def load_average() -> str:
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class BenchmarkModel:
    label: str
    role: str
    """``default`` (the manifest's default, or its architecture), ``shipped`` or ``body``."""
    build: Callable[[], ColorModel]
    checkpoint: Path | None = None
    size: int | None = None
    """Inference size (None: the model's own)."""


def benchmark_models(plan: Plan) -> list[BenchmarkModel]:
    """The default model first, the other shipped ones (full mode), then the ECCV16 body."""
    models: list[BenchmarkModel] = []
    default = default_model_name()
    for entry in sorted(list_entries(), key=lambda entry: entry.name != default):
        path = local_checkpoint(entry)
        if path is None or (entry.name != default and plan.name == "quick"):
            continue
        role = "default" if entry.name == default else "shipped"
        label = f"`{entry.name}`" + (" (default)" if role == "default" else "")
        models.append(BenchmarkModel(label, role, functools.partial(load_model, path), path))
    if not any(model.role == "default" for model in models):
        models.insert(
            0,
            BenchmarkModel(
                "default architecture: unet w16 d4 stride 2 (random weights: not shipped yet)",
                "default",
                functools.partial(get_model, "unet", **DEFAULT_ARCH),
            ),
        )
    if plan.name == "full":  # the trade-off of the 25 % target: a heavier forward pass
        default_model = models[0]
        models.insert(
            1,
            BenchmarkModel(
                f"{default_model.label.replace(' (default)', '')} at `--size 256`",
                "variant",
                default_model.build,
                default_model.checkpoint,
                size=256,
            ),
        )
    models.append(
        BenchmarkModel(
            "`eccv16` body, gamut head (random weights)",
            "body",
            functools.partial(get_model, "eccv16", colors="gamut"),
        )
    )
    return models


def run_colorize(plan: Plan, results: Results, root: Path, devices: list[torch.device]) -> None:
    photos, _ = source_photos()
    for device in devices:
        for model in benchmark_models(plan):
            colorizer = Colorizer(model.build(), device=device, size=model.size, half=True)
            heavy = model.role == "body"
            for side, count in plan.sides.items():
                if heavy and side not in plan.reference:
                    continue  # the heavy body is there to compare with the reference
                if model.role == "variant" and side > 1024:
                    continue
                folder = make_folder(root / "inputs", side, count, photos)
                log(f"colorize {model.label[:30]} on {device.type}, {count} x {side} px")
                repeats = plan.heavy_repeats if heavy else plan.repeats
                measured = measure(
                    folder, root / "scratch", colorizer, repeats=repeats, batch_size=8
                )
                results.colorize.append((model.label, model.role, device.type, side, measured))


def run_reference_section(plan: Plan, results: Results, root: Path) -> None:
    try:
        import skimage  # noqa: F401
    except ImportError:
        results.notes.append("scikit-image is not installed: the reference pipeline was skipped.")
        return
    from speed import steady_io_floor

    photos, _ = source_photos()
    model = get_model("eccv16", colors="gamut").eval()
    threads = best_thread_count(model)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for side, count in plan.reference.items():
            folder = make_folder(root / "reference-inputs", side, count, photos)
            log(f"reference pipeline, {count} x {side} px, {threads} torch thread(s)")
            floor = steady_io_floor(folder, root / "scratch" / "floor")
            seconds = run_reference(folder, root / "scratch" / f"reference-{side}", model)
            floor += steady_io_floor(folder, root / "scratch" / "floor")
            results.reference.append((side, count, seconds, floor / 2, threads))
    finally:
        torch.set_num_threads(previous)


def best_thread_count(model: ColorModel) -> int:
    """The faster of 1 and all torch threads for ``model`` here (load makes it vary)."""
    lightness = torch.rand(1, 1, 256, 256) * 100
    timings = {}
    previous = torch.get_num_threads()
    for threads in sorted({1, cpu_count()}):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            model.predict_ab(lightness)
            started = time.perf_counter()
            model.predict_ab(lightness)
            timings[threads] = time.perf_counter() - started
    torch.set_num_threads(previous)
    return min(timings, key=lambda threads: timings[threads])


def run_memory(plan: Plan, results: Results, root: Path) -> None:
    photos, _ = source_photos()
    checkpoint = benchmark_models(plan)[0].checkpoint  # the default model's, if shipped
    for side, fewer, more, runs in plan.memory:
        for count in (fewer, more) if more else (fewer,):
            folder = make_folder(root / "memory-inputs", side, count, photos, distinct=2)
            out = root / "scratch" / f"memory-{side}-{count}"
            peaks = [peak_memory(folder, out, side, checkpoint) for _ in range(runs)]
            highest = max(peaks, key=lambda measured: measured["peak"] - measured["baseline"])
            highest["runs"] = runs
            results.memory.append(highest)


def peak_memory(folder: Path, out: Path, side: int, checkpoint: Path | None) -> dict[str, Any]:
    """Run ``benchmarks/memory.py`` on ``folder`` in a fresh process; its JSON result."""
    log(f"peak memory, {folder.name}")
    script = Path(__file__).resolve().parent / "memory.py"
    model = [str(checkpoint)] if checkpoint is not None else []
    process = subprocess.run(
        [sys.executable, str(script), str(folder), str(out), *model],
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(out, ignore_errors=True)
    if process.returncode != 0:
        raise RuntimeError(f"memory run failed:\n{process.stderr}")
    measured: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    if measured["failed"]:
        raise RuntimeError(f"memory run had failures: {measured['failed'][:1]}")
    measured["side"] = side
    return measured


def run_training(plan: Plan, results: Results, devices: list[torch.device]) -> None:
    for device in devices:
        for arch in list_models():
            for size in plan.training_sizes:
                log(f"training {arch} at {size} px on {device.type}")
                rate = training_throughput(
                    arch,
                    size,
                    device,
                    batch=plan.training_batch[size],
                    min_seconds=plan.training_seconds,
                    max_steps=plan.training_steps,
                )
                results.training.append((arch, size, device.type, rate))


INFERENCE_SIZE = 256


def run_inference(plan: Plan, results: Results, devices: list[torch.device]) -> None:
    """Every shipped model (and the ECCV16 body) at inference size 256 on 256 px photos."""
    photos, _ = source_photos()
    images = []
    for path in photos[:16]:
        pixels = read_image(path).pixels
        scale = INFERENCE_SIZE / max(pixels.shape[:2])
        size = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
        images.append(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))
    for device in devices:
        for model in benchmark_models(plan):
            if model.role == "variant":
                continue
            log(f"inference {model.label[:30]} on {device.type} at {INFERENCE_SIZE}")
            colorizer = Colorizer(model.build(), device=device, size=INFERENCE_SIZE, half=True)
            forward, end_to_end = inference_throughput(
                colorizer, images, batch=8, min_seconds=plan.training_seconds
            )
            results.inference.append(
                (model.label, device.type, INFERENCE_SIZE, forward, end_to_end)
            )


# --------------------------------------------------------------------------- report


def _mb(value: float) -> str:
    return f"{value / 1024**2:,.0f}"


def render(results: Results, plan: Plan, seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `uv run python benchmarks/run.py{' --quick' if plan.name == 'quick' else ''}`"
        f" on {dt.date.today().isoformat()} ({plan.name} mode, {seconds / 60:.1f} min). "
        "Absolute figures move with the machine's load; the ratios compare runs made "
        "alternately in the same process, so they hold better.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- **{key}**: {value}" for key, value in results.machine.items()]
    lines += [
        f"- **Load average at the end**: {load_average()}",
        f"- **Inputs**: gray JPEGs (quality 90) made at run time from {results.photos}, "
        "resized to the long side given (bicubic up, Lanczos down), in a temporary folder. "
        "Outputs: JPEG quality 95 (4:4:4), as `colorcli colorize` writes them.",
        "",
    ]
    lines += _design_section()
    lines += _targets_section(results)
    lines += _colorize_section(results)
    lines += _bottleneck_note(results)
    lines += _reference_section(results)
    lines += _inference_section(results)
    lines += _memory_section(results)
    lines += _training_section(results)
    if results.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in results.notes] + [""]
    return "\n".join(lines)


def _design_section() -> list[str]:
    return [
        "## How `colorcli colorize` streams",
        "",
        "Worker threads (one per core) decode and prepare images (resize to the model's "
        "inference size, L by table lookup) in job order, at most twice the batch size ahead; the "
        "calling thread runs the model on batches of these small L images (any mix of sizes "
        "batches together); workers then join ab to the full-resolution L (in place, in "
        "strips, in torch on the model's device, colours outside the gamut desaturated at "
        "their own L) and encode. Images in flight never hold more "
        "than 32 M pixels, so memory does not grow with the folder. On CPU torch gets half "
        "the cores and OpenCV one thread; on CUDA the batch goes through pinned memory in "
        "fp16/bf16 (`--half`, default) and channels_last; BatchNorm is folded into the "
        "convolutions; `--compile` adds `torch.compile`. `--shard K/N` splits a folder "
        "across machines or GPUs.",
        "",
    ]


def _targets_section(results: Results) -> list[str]:
    """The issue's targets, each with the figure from this run that decides it."""
    rows: list[str] = []
    default = [
        (side, t)
        for _, role, device, side, t in results.colorize
        if device == "cpu" and role == "default"
    ]
    light = [(side, t) for side, t in default if side <= 1024]
    if light:
        worst = max(t.ratio for _, t in light)
        rows.append(
            f"| Colourize <= 10x the I/O floor (CPU, default model, 512-1024 px) "
            f"| worst {worst:.1f}x | {'met' if worst <= 10 else 'not met'} |"
        )
        side, t = min(light, key=lambda item: item[1].model_busy)
        rows.append(
            "| Everything but the forward pass <= 25 % of the wall time (512-1024 px) "
            f"| worst {side} px: the model idle {1 - t.model_busy:.0%} of the wall time "
            f"(the other stages take {t.non_forward_cpu_share:.0%} of the CPU time, "
            "mostly hidden behind the model) "
            f"| {'met' if 1 - t.model_busy <= 0.25 else 'not met'} |"
        )
    references = {side: count / seconds for side, count, seconds, _, _ in results.reference}
    versus = [t.images_per_second / references[side] for side, t in default if side in references]
    if versus:
        rows.append(
            f"| >= 10x faster than the ECCV16 reference pipeline "
            f"| {min(versus):.0f}x faster | {'met' if min(versus) >= 10 else 'not met'} |"
        )
    huge = [m for m in results.memory if m["side"] >= 12000]
    if huge:
        ratio = max((m["peak"] - m["baseline"]) / m["array"] for m in huge)
        rows.append(
            f"| Peak memory for a 12000 px image <= 3x its RGB array "
            f"| {ratio:.2f}x above the import baseline | {'met' if ratio <= 3 else 'not met'} |"
        )
    by_count: dict[int, list[dict[str, float]]] = {}
    for m in results.memory:
        by_count.setdefault(int(m["side"]), []).append(m)
    for side, rows_of_side in sorted(by_count.items()):
        if len(rows_of_side) == 2:
            few, many = sorted(rows_of_side, key=lambda m: m["images"])
            growth = many["peak"] - few["peak"]
            # identical runs differ by about 10 % (timing of the workers, glibc's heap)
            flat = growth <= 0.1 * (few["peak"] - few["baseline"]) + 16 * 1024**2
            rows.append(
                f"| Memory flat with folder size ({side} px, {few['images']} vs "
                f"{many['images']} images) | peak {growth / 1024**2:+.0f} MB "
                f"| {'met' if flat else 'not met'} |"
            )
    gpu = [
        t
        for _, role, device, side, t in results.colorize
        if role == "default" and device == "cuda" and side == 1024
    ]
    rows.append(
        "| >= 300 images/s at 1024 px on a GPU, default model | "
        + (
            f"{max(t.images_per_second for t in gpu):.0f} img/s | "
            f"{'met' if max(t.images_per_second for t in gpu) >= 300 else 'not met'} |"
            if gpu
            else "no GPU lent to this run | not measured |"
        )
    )
    return [
        "## Targets",
        "",
        "| Target | This run | |",
        "|---|---|---|",
        *rows,
        "",
        *_model_bound_note(light),
    ]


def _model_bound_note(light: list[tuple[int, Throughput]]) -> list[str]:
    """Why the I/O-floor target is missed when the forward pass itself is the limit."""
    if not light or max(t.ratio for _, t in light) <= 10:
        return []
    busy = min(t.model_busy for _, t in light)
    if busy < 0.9:
        return []
    return [
        f"The default model's forward pass runs at least {busy:.0%} of the wall time at "
        "512-1024 px (*Model busy* below), so on this CPU the model, not the stream around "
        "it, sets the speed: the I/O-floor and reference-pipeline targets move only with a "
        "lighter model, more cores or a GPU.",
        "",
    ]


def _bottleneck_note(results: Results) -> list[str]:
    """Which stage keeps the 25 % target out of reach, when it is."""
    rows = {
        (role, side): t
        for _, role, device, side, t in results.colorize
        if device == "cpu" and side == 1024
    }
    default, variant = rows.get(("default", 1024)), rows.get(("variant", 1024))
    if default is None or 1 - default.model_busy <= 0.25:
        return []
    per_image = {stage: 1000 * default.stage_cpu[stage] / default.images for stage in STAGES}
    stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in per_image.items())
    lines = [
        "## Why the 25 % target is out of reach with the default model",
        "",
        f"At 1024 px the default model's forward pass costs {per_image['model']:.1f} ms of CPU "
        f"per image at inference size {default.inference_size}, while the stages around it "
        f"cost {sum(per_image.values()) - per_image['model']:.1f} ms (CPU ms per image: "
        f"{stages}). Decoding and encoding alone are the I/O floor, which no pipeline can go "
        "below; the largest stage beyond it is the full-resolution join (L by table lookup, "
        "ab upsampled row by row, OpenCV's Lab -> sRGB: a handful of passes over each "
        "pixel). So the wall time is set by the workers, "
        "not by the model: the target assumes a forward pass at least three times the cost of "
        "everything else.",
        "",
    ]
    if variant is not None:
        lines += [
            f"The same model at `--size 256` (row above) spends {variant.model_busy:.0%} of the "
            f"wall time in the forward pass (the model idle {1 - variant.model_busy:.0%}) at "
            f"{variant.ratio:.1f}x the I/O floor: a heavier forward pass meets the 25 % target "
            "while staying inside the 10x one. Going the other way, the join would have to be "
            "fused into one pass (a C++ extension doing lookup, interpolation and conversion "
            "per pixel), or done at a reduced output size.",
            "",
        ]
    return lines


def _colorize_section(results: Results) -> list[str]:
    if not results.colorize:
        return []
    lines = [
        "## Colourize throughput",
        "",
        "`colorize_jobs` (what `colorcli colorize` runs: default workers, batch 8, each "
        "model's own inference size, *Size*) against the **I/O floor**: the same folder "
        "only decoded and re-encoded with `read_image` + `write_image`, on all cores. "
        "*Model busy* is the share of the wall time the model was running (the stream's "
        "critical stage); *CPU outside the model* is the share of all stages' CPU time "
        "spent decoding, resizing, joining and encoding.",
        "",
        "| Model | Size | Device | Long side | Images | img/s | I/O floor img/s "
        "| Colourize / I/O floor | Model busy | CPU outside the model |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, _, device, side, t in results.colorize:
        lines.append(
            f"| {label} | {t.inference_size} | {device} | {side} | {t.images} "
            f"| {t.images_per_second:.1f} "
            f"| {t.floor_images_per_second:.1f} | **{t.ratio:.1f}x** | {t.model_busy:.0%} "
            f"| {t.non_forward_cpu_share:.0%} |"
        )
    lines += [
        "",
        "CPU time per image and stage (ms, thread CPU time; `model` is exact when torch runs "
        "one thread, as it does with the default workers on 2 cores):",
        "",
        "| Model | Device | Long side | " + " | ".join(STAGES) + " |",
        "|---|---|---:|" + "---:|" * len(STAGES),
    ]
    for label, _, device, side, t in results.colorize:
        per_image = [1000 * t.stage_cpu[stage] / t.images for stage in STAGES]
        lines.append(
            f"| {label} | {device} | {side} | " + " | ".join(f"{v:.1f}" for v in per_image) + " |"
        )
    return [*lines, ""]


def _reference_section(results: Results) -> list[str]:
    if not results.reference:
        return []
    ours = {
        (role, side): t
        for _, role, device, side, t in results.colorize
        if device == "cpu" and role in ("default", "body")
    }
    lines = [
        "## Against the ECCV16 reference pipeline",
        "",
        "The `eccv16` body run the way its authors' demo runs it: one image at a time, "
        "scikit-image `rgb2lab`/`lab2rgb` at full resolution in float64 (see "
        "`benchmarks/reference.py`), with the faster of 1 or all torch threads. The "
        "ratio is to the I/O floor measured beside it; the speed-up compares images per "
        "second with the colourize table above.",
        "",
        "| Long side | Images | Reference img/s | Reference / I/O floor "
        "| Ours, `eccv16` body img/s | Ours, default model img/s | Default model vs reference |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for side, count, seconds, floor, _threads in results.reference:
        heavy, light = ours.get(("body", side)), ours.get(("default", side))
        reference_rate = count / seconds
        lines.append(
            f"| {side} | {count} | {reference_rate:.2f} | {seconds / floor:.0f}x "
            f"| {f'{heavy.images_per_second:.2f}' if heavy else 'n/a'} "
            f"| {f'{light.images_per_second:.1f}' if light else 'n/a'} "
            f"| {f'{light.images_per_second / reference_rate:.0f}x faster' if light else 'n/a'} |"
        )
    return [*lines, ""]


def _memory_section(results: Results) -> list[str]:
    if not results.memory:
        return []
    lines = [
        "## Peak resident memory",
        "",
        "A fresh process per row runs `colorize_jobs` (the default model, default workers) "
        "on a folder "
        "of identical-size gray JPEGs. *Baseline* is the high-water mark after importing "
        "torch and colorcli and building the model, before any image; *pipeline* is the "
        "peak above it; the target compares the pipeline to one image's decoded RGB array. "
        "With several runs the highest peak is shown; identical runs differ by up to about "
        "10 % (the workers' timing, glibc's heap).",
        "",
        "| Long side | Images | Runs | Decoded RGB array MB | Baseline MB | Peak MB "
        "| Pipeline MB | Pipeline / array |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results.memory:
        pipeline = m["peak"] - m["baseline"]
        lines.append(
            f"| {m['side']} | {m['images']} | {m['runs']} | {_mb(m['array'])} "
            f"| {_mb(m['baseline'])} "
            f"| {_mb(m['peak'])} | {_mb(pipeline)} | {pipeline / m['array']:.2f}x |"
        )
    return [*lines, ""]


def _inference_section(results: Results) -> list[str]:
    if not results.inference:
        return []
    lines = [
        f"## Inference at {INFERENCE_SIZE} px",
        "",
        f"Each model at inference size {INFERENCE_SIZE} on photos {INFERENCE_SIZE} px on the long "
        "side, already decoded in memory (no file I/O), batches of 8, torch's default threads: "
        "the model's forward pass alone, and with `prepare_input` and the full-resolution "
        "join (what `Colorizer.colorize_many` does).",
        "",
        "| Model | Device | Forward img/s | Prepare + forward + join img/s |",
        "|---|---|---:|---:|",
    ]
    for label, device, _, forward, end_to_end in results.inference:
        lines.append(f"| {label} | {device} | {forward:.1f} | {end_to_end:.1f} |")
    return [*lines, ""]


def _training_section(results: Results) -> list[str]:
    if not results.training:
        return []
    sizes = sorted({size for _, size, _, _ in results.training})
    devices = sorted({device for _, _, device, _ in results.training})
    columns = [(device, size) for device in devices for size in sizes]
    table = {(arch, size, device): rate for arch, size, device, rate in results.training}
    lines = [
        "## Training throughput",
        "",
        "Images per second of forward + backward + AdamW step (`get_model(arch)` defaults, "
        "ab regression, random L crops), after one warm-up step.",
        "",
        "| Architecture | " + " | ".join(f"{d} {s} px" for d, s in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for arch in sorted({arch for arch, _, _, _ in results.training}):
        cells = [f"{table[(arch, s, d)]:.1f}" for d, s in columns]
        lines.append(f"| {arch} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs, for CI")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=("colorize", "inference", "reference", "memory", "training"),
        help="run only these sections",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    sections = set(args.only or ("colorize", "inference", "reference", "memory", "training"))
    devices = [torch.device("cpu")]
    if args.device in ("auto", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        raise SystemExit("--device cuda: no GPU here")
    started = time.perf_counter()
    _, photos = source_photos()
    results = Results(machine=describe_machine(), photos=photos)
    with tempfile.TemporaryDirectory(prefix="colorcli-bench-") as tmp:
        root = Path(tmp)
        if "colorize" in sections:
            run_colorize(plan, results, root, devices)
        if "inference" in sections:
            run_inference(plan, results, devices)
        if "reference" in sections:
            run_reference_section(plan, results, root)
        if "memory" in sections:
            run_memory(plan, results, root)
        if "training" in sections:
            run_training(plan, results, devices)
    text = render(results, plan, time.perf_counter() - started)
    args.output.write_text(text)
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
