"""Run the evaluation: read each photo once, colourize it with every model, score every row.

Every image is read, checked and cut to the evaluation protocol once; the same crops go to the
gray baseline (the L with ab = 0) and to every model, so all rows of a table are measured on
exactly the same pixels. Images flow through in batches, so memory stays bounded whatever the
size of the data set; only the per-image metric values (a few floats each) are kept. Guided
models can also be scored with simulated hints or their photo's own reference, and every
model with how well its confidence map ranks its error.
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from colorcli.color import rgb_to_lab
from colorcli.errors import ImageError, ModelError, UsageError
from colorcli.evaluation.discovery import EvalData
from colorcli.evaluation.grids import write_sample_grid
from colorcli.evaluation.protocol import (
    BASELINE_NAME,
    COLORFULNESS_METRICS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_METRICS,
    DEFAULT_PROTOCOL,
    REFERENCE_NAME,
    EvalProtocol,
    gray_baseline,
    parse_protocol,
)
from colorcli.evaluation.report import EvalReport, ImageEvent, ImageScores
from colorcli.guidance import ab_histogram, evaluation_hints, pad_hints
from colorcli.imageio import DEFAULT_MAX_PIXELS, read_image
from colorcli.metrics import METRICS, SSIM_WINDOW, colorfulness, compute_metrics
from colorcli.models.heads import ClassificationHead
from colorcli.pipeline import Colorizer, ModelInput, join_full_resolution, prepare_input

__all__ = ["BATCH_PIXEL_BUDGET", "evaluate"]

BATCH_PIXEL_BUDGET = 32_000_000
"""A batch is scored early once its images hold this many pixels (bounds memory with ``full``)."""


@dataclass
class _Photo:
    image: str
    pixels: np.ndarray


def _read_photo(
    path: Path, name: str, protocol: EvalProtocol, max_pixels: int, min_side: int
) -> _Photo | ImageEvent:
    """Read, check and cut one file (runs in a worker thread)."""
    try:
        loaded = read_image(path, max_pixels=max_pixels)
    except ImageError as error:
        return ImageEvent(name, "failed", str(error))
    if loaded.is_grayscale:
        return ImageEvent(name, "skipped", "already gray")
    height, width = loaded.pixels.shape[:2]
    if min(height, width) < min_side:
        return ImageEvent(
            name,
            "failed",
            f"{path}: {width}x{height} is too small (ssim needs {min_side}x{min_side})",
        )
    try:
        pixels = protocol.apply(loaded.pixels)
    except cv2.error as error:
        return ImageEvent(name, "failed", f"{path}: cannot resize: {error}")
    return _Photo(name, pixels)


def _read_in_order(
    data: EvalData, read: Callable[[Path, str], _Photo | ImageEvent], lookahead: int
) -> Generator[_Photo | ImageEvent, None, None]:
    """Results of ``read`` for every file in order, decoding up to ``lookahead`` files ahead."""
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[_Photo | ImageEvent]] = deque()
        try:
            for path in data.files:
                pending.append(pool.submit(read, path, data.name_of(path)))
                if len(pending) >= lookahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _float_rgb(images: Sequence[np.ndarray], device: torch.device) -> Tensor:
    """``(H, W, 3)`` uint8/uint16 arrays of one shape -> ``(N, 3, H, W)`` float32 in [0, 1]."""
    stacked = np.stack(images)
    if stacked.dtype == np.uint16:  # torch's uint16 support is thin on accelerators
        return torch.from_numpy(stacked.astype(np.float32)).to(device).permute(0, 3, 1, 2) / 65535
    return torch.from_numpy(stacked).to(device).permute(0, 3, 1, 2).to(torch.float32) / 255


def _model_settings(colorizer: Colorizer) -> dict[str, Any]:
    model = colorizer.model
    settings = {
        "arch": getattr(model, "arch", type(model).__name__),
        "params": sum(p.numel() for p in model.parameters()),
        "size": colorizer.size,
        "saturation": colorizer.saturation,
        "device": str(colorizer.device),
        "half": colorizer.autocast_dtype is not None,
    }
    head = getattr(model, "head", None)
    if isinstance(head, ClassificationHead):
        settings["decode"] = head.decode_method
        if head.decode_method == "annealed":
            settings["temperature"] = head.temperature
    return settings


def evaluate(
    colorizers: Mapping[str, Colorizer],
    data: EvalData,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    protocol: EvalProtocol | str = DEFAULT_PROTOCOL,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    samples_dir: str | Path | None = None,
    device: torch.device | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_image: Callable[[ImageEvent], None] | None = None,
    hints: Sequence[int] = (),
    own_reference: bool = False,
    confidence: bool = False,
) -> EvalReport:
    """Score the gray baseline and every colourizer on the colour photographs of ``data``.

    Each photo is read once, skipped if it has no colour, cut to the protocol, and its L is
    colourized by every model; the result is compared with the cut photo. The gray baseline
    (:func:`gray_baseline`) is always the first row. Unreadable files are recorded, not fatal.

    Args:
        colorizers: ``{row name: Colorizer}`` in table order; names must be unique and differ
            from :data:`BASELINE_NAME` and :data:`REFERENCE_NAME`. May be empty (baseline only).
        data: the image files (see :func:`find_eval_images`).
        metrics: keys of :data:`colorcli.metrics.METRICS`.
        protocol: an :class:`EvalProtocol` or its name (``"crop256"``, ``"full"``, …).
        batch_size: images per model batch (also bounded by :data:`BATCH_PIXEL_BUDGET`).
        limit: score at most this many images: the first colour images in sorted order
            (gray and unreadable files before them are counted but do not use up the limit).
        samples_dir: when given, write one ``gray | models… | original`` PNG per image there,
            mirroring the images' relative paths (existing grids are replaced).
        device: where the baseline and the metrics are computed; defaults to the first
            colourizer's device, else the CPU.
        max_pixels: larger files are refused (recorded as failed).
        on_image: called once per examined file, as soon as its fate is known.
        hints: guided models are also scored with this many local hints per photo,
            simulated from the truth (3-pixel patches at positions fixed by the file name,
            so every run and model sees the same): one row ``"<name> +N hints"`` per N > 0.
        own_reference: guided models are also scored with the photo's own ab histogram as
            the reference (row ``"<name> +reference"``).
        confidence: record how well each model's confidence map ranks its error
            (:attr:`EvalReport.confidence`).

    Returns:
        The :class:`EvalReport`.

    Raises:
        UsageError: bad names, metrics, protocol, batch size or limit.
        ModelError: a model failed on a batch (e.g. out of device memory).
        ImageError: a sample grid cannot be written.
    """
    chosen = tuple(metrics)
    unknown = [name for name in chosen if name not in METRICS]
    if unknown or not chosen:
        raise UsageError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(METRICS)}"
        )
    chosen = tuple(dict.fromkeys(chosen))
    for name in colorizers:
        if name in (BASELINE_NAME, REFERENCE_NAME) or not name:
            raise UsageError(f"model name {name!r} is reserved for a reference row")
    if isinstance(protocol, str):
        protocol = parse_protocol(protocol)
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    if device is None:
        device = next(iter(colorizers.values())).device if colorizers else torch.device("cpu")
    samples = Path(samples_dir) if samples_dir is not None else None
    if any(count < 0 for count in hints):
        raise UsageError(f"--hints counts must be >= 0, got {list(hints)}")
    guided = [name for name, c in colorizers.items() if c.model.accepts_hints]
    if (any(hints) or own_reference) and not guided:
        raise UsageError(
            "--hints and --own-reference need a guided model (e.g. --model lite0-guided)"
        )
    rows: dict[str, _Row] = {name: _Row(c) for name, c in colorizers.items()}
    for name in guided:
        for count in dict.fromkeys(hints):
            if count > 0:
                rows[f"{name} +{count} hints"] = _Row(colorizers[name], hints=count)
        if own_reference:
            rows[f"{name} +reference"] = _Row(colorizers[name], own_reference=True)

    report = EvalReport(
        protocol=protocol,
        data=data,
        metrics=chosen,
        rows=[BASELINE_NAME, *rows],
        models={
            name: {
                **_model_settings(row.colorizer),
                "hints": row.hints,
                **({"reference": "own histogram"} if row.own_reference else {}),
            }
            for name, row in rows.items()
        },
    )
    if confidence:
        for name in colorizers:
            report.confidence[name] = []
    started = time.perf_counter()
    min_side = SSIM_WINDOW if {"ssim", "ssim_l"} & set(chosen) else 1

    def read(path: Path, name: str) -> _Photo | ImageEvent:
        return _read_photo(path, name, protocol, max_pixels, min_side)

    def note(event: ImageEvent) -> None:
        if event.status == "skipped":
            report.skipped_gray.append(event.image)
        elif event.status == "failed":
            report.failed.append((event.image, event.reason))
        if on_image is not None:
            on_image(event)

    batch: list[_Photo] = []
    batch_pixels = 0
    accepted = 0
    used_sample_names: set[str] = set()

    def flush() -> None:
        nonlocal batch_pixels
        if batch:
            photos = list(batch)
            batch.clear()
            batch_pixels = 0
            _score_batch(photos, rows, chosen, device, report, samples, used_sample_names)
            for photo in photos:
                if on_image is not None:
                    on_image(ImageEvent(photo.image, "scored"))

    # Decoded images waiting for the model: with full-resolution photos keep only a few.
    lookahead = 2 * batch_size if protocol.crop_size is not None else min(2 * batch_size, 4)
    with contextlib.closing(_read_in_order(data, read, lookahead)) as outcomes:
        for outcome in outcomes:
            report.examined += 1
            if isinstance(outcome, ImageEvent):
                note(outcome)
                continue
            batch.append(outcome)
            batch_pixels += outcome.pixels.shape[0] * outcome.pixels.shape[1]
            accepted += 1
            if len(batch) >= batch_size or batch_pixels >= BATCH_PIXEL_BUDGET:
                flush()
            if limit is not None and accepted >= limit:
                break
    flush()
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class _Row:
    """One row of the table: a colourizer, and the guidance it is given."""

    colorizer: Colorizer
    hints: int = 0
    own_reference: bool = False


def _true_ab(pixels: np.ndarray, item: ModelInput) -> Tensor:
    """The photo's true ab at the model's content size, ``(1, 2, h, w)``."""
    height, width = item.content
    small = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    top = 65535.0 if small.dtype == np.uint16 else 255.0
    rgb = torch.from_numpy(small.astype(np.float32) / top).permute(2, 0, 1)[None]
    return rgb_to_lab(rgb)[:, 1:]


def _guided_inputs(
    photos: list[_Photo], prepared: list[ModelInput], row: _Row, truths: list[Tensor]
) -> list[ModelInput]:
    """``prepared`` with the row's simulated hints and/or own-histogram reference."""
    inputs = []
    for photo, item, truth in zip(photos, prepared, truths, strict=True):
        hint_map = None
        if row.hints:
            seed = zlib.crc32(photo.image.encode("utf-8"))
            small = evaluation_hints(truth, row.hints, seed)
            side = item.lightness.shape[-1]
            hint_map = pad_hints(small, side - item.content[0], side - item.content[1])[0]
        reference = ab_histogram(truth)[0] if row.own_reference else None
        inputs.append(ModelInput(item.lightness, item.content, hint_map, reference))
    return inputs


def _confidence_errors(results: list[Tensor], truths: list[Tensor]) -> list[tuple[float, float]]:
    """Per image: mean ab error of the least and of the most confident quarter of pixels."""
    pairs = []
    for result, truth in zip(results, truths, strict=True):
        error = (result[:2] - truth[0]).norm(dim=0).flatten()
        certainty = result[2].flatten()
        quarter = max(1, certainty.numel() // 4)
        order = torch.argsort(certainty)
        pairs.append((float(error[order[:quarter]].mean()), float(error[order[-quarter:]].mean())))
    return pairs


def _score_batch(
    photos: list[_Photo],
    rows: Mapping[str, _Row],
    metrics: tuple[str, ...],
    device: torch.device,
    report: EvalReport,
    samples: Path | None,
    used_sample_names: set[str],
) -> None:
    """Colourize one batch with every model, score it and record (and draw) the results."""
    originals = [photo.pixels for photo in photos]
    outputs: dict[str, list[np.ndarray]] = {
        BASELINE_NAME: [gray_baseline(pixels, device=device) for pixels in originals]
    }
    prepared: dict[int, list[ModelInput]] = {}  # the model input, once per inference size
    truths: dict[int, list[Tensor]] = {}
    for name, row in rows.items():
        colorizer = row.colorizer
        if colorizer.size not in prepared:
            prepared[colorizer.size] = [prepare_input(p, colorizer.size) for p in originals]
        inputs = prepared[colorizer.size]
        wants_confidence = name in report.confidence
        if (row.hints or row.own_reference or wants_confidence) and colorizer.size not in truths:
            truths[colorizer.size] = [
                _true_ab(pixels, item) for pixels, item in zip(originals, inputs, strict=True)
            ]
        if row.hints or row.own_reference:
            inputs = _guided_inputs(photos, inputs, row, truths[colorizer.size])
        try:
            # as colorize runs it: autocast, hint spreading at this saturation
            abs_ = colorizer.predict(inputs, confidence=wants_confidence)
        except RuntimeError as error:  # e.g. out of memory on the device
            first = str(error).strip().splitlines()[0] if str(error).strip() else "runtime error"
            raise ModelError(
                f"model {name!r} failed on a batch of {len(photos)}: {first}"
            ) from None
        if wants_confidence:
            report.confidence[name].extend(_confidence_errors(abs_, truths[colorizer.size]))
            abs_ = [ab[:2] for ab in abs_]
        outputs[name] = [
            join_full_resolution(
                pixels, ab, saturation=colorizer.saturation, device=colorizer.device
            )
            for pixels, ab in zip(originals, abs_, strict=True)
        ]

    scores: list[dict[str, dict[str, float]]] = [{} for _ in photos]
    original_cf: list[float | None] = [None] * len(photos)
    # compute_metrics wants one image size per call: group the batch by shape.
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, pixels in enumerate(originals):
        groups.setdefault(pixels.shape, []).append(index)
    for indices in groups.values():
        target = _float_rgb([originals[i] for i in indices], device)
        if COLORFULNESS_METRICS & set(metrics):
            for i, value in zip(indices, colorfulness(target).tolist(), strict=True):
                original_cf[i] = value
        for name, images in outputs.items():
            pred = _float_rgb([images[i] for i in indices], device)
            values = compute_metrics(pred, target, metrics)
            per_metric = {metric: tensor.tolist() for metric, tensor in values.items()}
            for position, i in enumerate(indices):
                scores[i][name] = {metric: per_metric[metric][position] for metric in metrics}

    for index, photo in enumerate(photos):
        height, width = photo.pixels.shape[:2]
        report.images.append(
            ImageScores(photo.image, (height, width), scores[index], original_cf[index])
        )
        if samples is not None:
            tiles = [(name, images[index]) for name, images in outputs.items()]
            tiles.append((REFERENCE_NAME, photo.pixels))
            write_sample_grid(samples, photo.image, tiles, used_sample_names)
