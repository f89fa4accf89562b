"""Score colourizers on colour photographs: each photo's L in, colour out, compared with the photo.

Every image is read, checked and cut to the evaluation protocol once; the same crops go to the
gray baseline (the L with ab = 0) and to every model, so all rows of a table are measured on
exactly the same pixels. Images flow through in batches, so memory stays bounded whatever the
size of the data set; only the per-image metric values (a few floats each) are kept.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.resources
import math
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from colorcli import __version__
from colorcli.color import rgb_to_lab
from colorcli.errors import DataError, ImageError, ModelError, UsageError
from colorcli.guidance import ab_histogram, evaluation_hints, pad_hints
from colorcli.imageio import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, read_image, write_image
from colorcli.metrics import METRICS, SSIM_WINDOW, colorfulness, compute_metrics, mean_and_ci95
from colorcli.models.heads import ClassificationHead
from colorcli.pipeline import Colorizer, ModelInput, join_full_resolution, predict_ab, prepare_input

__all__ = [
    "BASELINE_NAME",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_METRICS",
    "DEFAULT_PROTOCOL",
    "REFERENCE_NAME",
    "EvalData",
    "EvalProtocol",
    "EvalReport",
    "ImageEvent",
    "ImageScores",
    "MetricSummary",
    "builtin_eval_dir",
    "evaluate",
    "find_eval_images",
    "gray_baseline",
    "parse_protocol",
    "sample_grid",
    "write_per_image_csv",
]

BASELINE_NAME = "gray"
"""Row name of the baseline: the photo's own L with ab = 0, always scored first."""

REFERENCE_NAME = "original"
"""Row name of the originals' colourfulness, the reference for ``colorfulness``."""

DEFAULT_METRICS: tuple[str, ...] = ("psnr", "ssim", "deltae", "imgsim", "colorfulness", "delta_cf")
"""Metrics scored when none are named."""

DEFAULT_PROTOCOL = "crop256"
"""Centre square crop resized to 256×256, as the colourization papers evaluate."""

DEFAULT_BATCH_SIZE = 16

BATCH_PIXEL_BUDGET = 32_000_000
"""A batch is scored early once its images hold this many pixels (bounds memory with ``full``)."""

SAMPLE_TILE_MAX = 512
"""Longest side of one tile of a sample grid; larger evaluated images are shrunk for the grid."""

SAMPLE_LABEL_HEIGHT = 16
"""Height in pixels of the label strip above each tile of a sample grid."""

_PROTOCOL_PATTERN = re.compile(r"^(?:full|crop(\d+))$")
_MIN_CROP = 16
_MAX_CROP = 8192
_COLORFULNESS_METRICS = frozenset({"colorfulness", "delta_cf"})


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class EvalProtocol:
    """What part of each photo is compared, at what resolution.

    Attributes:
        name: ``"cropN"`` (e.g. ``"crop256"``) or ``"full"``.
        crop_size: side N of the square crop, or ``None`` for ``full``.
    """

    name: str
    crop_size: int | None

    @property
    def description(self) -> str:
        """One sentence for logs and reports."""
        if self.crop_size is None:
            return (
                f"protocol {self.name}: every photo at its full resolution as decoded "
                "(EXIF orientation applied); models see its L resized to the inference size, "
                "their ab is upsampled and joined to the full-resolution L"
            )
        n = self.crop_size
        return (
            f"protocol {self.name}: centre square crop (side = short side), resized to {n}x{n} "
            "with OpenCV INTER_AREA when shrinking or INTER_LANCZOS4 when enlarging, on the "
            "decoded 8/16-bit RGB; models see the L of that crop"
        )

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """The evaluated image: ``(H, W, 3)`` uint8/uint16 in, same dtype out (a new array)."""
        if self.crop_size is None:
            return pixels
        return centre_square_crop(pixels, self.crop_size)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "crop_size": self.crop_size, "description": self.description}


def parse_protocol(text: str) -> EvalProtocol:
    """``"crop256"`` (any ``cropN``, 16 ≤ N ≤ 8192) or ``"full"`` as an :class:`EvalProtocol`.

    Raises:
        UsageError: anything else.
    """
    name = text.strip().lower()
    match = _PROTOCOL_PATTERN.match(name)
    if match is None:
        raise UsageError(f"unknown protocol {text!r}: use crop256 (or cropN, N pixels) or full")
    if match.group(1) is None:
        return EvalProtocol("full", None)
    size = int(match.group(1))
    if not _MIN_CROP <= size <= _MAX_CROP:
        raise UsageError(f"protocol {text!r}: the crop must be {_MIN_CROP} to {_MAX_CROP} pixels")
    return EvalProtocol(f"crop{size}", size)


def centre_square_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """Cut the centred square of side ``min(H, W)`` and resize it to ``size × size``.

    Args:
        pixels: ``(H, W, 3)`` uint8 or uint16.
        size: output side.

    Returns:
        ``(size, size, 3)`` of the same dtype. Shrinking uses ``cv2.INTER_AREA`` (the mean of
        the covered source pixels, no aliasing); enlarging uses ``cv2.INTER_LANCZOS4``.
    """
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = pixels[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LANCZOS4
    return cv2.resize(square, (size, size), interpolation=interpolation)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class EvalData:
    """The image files of an evaluation set.

    Attributes:
        root: folder they were found under.
        files: image files, sorted by their path relative to ``root``.
        builtin: whether this is the set shipped with colorcli.
    """

    root: Path
    files: list[Path]
    builtin: bool = False

    def name_of(self, path: Path) -> str:
        """How reports call ``path``: relative to the root, with ``/``."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def builtin_eval_dir() -> Path:
    """Folder of the colour photographs shipped with colorcli: ``colorcli/samples/color``."""
    return Path(str(importlib.resources.files("colorcli") / "samples" / "color"))


def find_eval_images(data: str | Path | None = None, *, exclude: Sequence[Path] = ()) -> EvalData:
    """Image files below ``data`` (recursive), or the built-in set when ``data`` is ``None``.

    Hidden files and folders are skipped, as are folders in ``exclude`` (e.g. where sample
    grids are written). Images are files whose suffix is in
    :data:`colorcli.imageio.IMAGE_EXTENSIONS`.

    Raises:
        DataError: the folder does not exist, is a file, or holds no image files.
    """
    builtin = data is None
    root = builtin_eval_dir() if data is None else Path(data).expanduser()
    if not root.exists():
        raise DataError(f"{root}: evaluation data folder not found")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (--data takes a folder of colour photographs)")
    skipped = {os.path.normcase(os.path.abspath(path)) for path in exclude}
    files: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [
            name
            for name in subdirs
            if not name.startswith(".")
            and os.path.normcase(os.path.abspath(Path(directory) / name)) not in skipped
        ]
        files.extend(
            Path(directory) / name
            for name in names
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        )
    if not files:
        raise DataError(f"{root}: no image files found (looked for {_extension_list()})")
    files.sort(key=lambda path: path.relative_to(root).as_posix())
    return EvalData(root=root, files=files, builtin=builtin)


def _extension_list() -> str:
    return ", ".join(sorted(IMAGE_EXTENSIONS))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MetricSummary:
    """A metric over a set: ``value`` with its 95% interval ``[low, high]`` over ``n`` images.

    ``value`` is the mean of the per-image values, except for a set-level metric
    (``delta_cf``) where it is the metric's own summary (``|mean CF difference|``).
    """

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """``{"mean", "ci95_low", "ci95_high", "n"}``; a non-finite number becomes ``None``."""
        return {
            "mean": _finite_or_none(self.value),
            "ci95_low": _finite_or_none(self.low),
            "ci95_high": _finite_or_none(self.high),
            "n": self.n,
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None  # keeps the JSON strict (no NaN tokens)


@dataclass
class ImageScores:
    """Per-image values of one evaluated image.

    Attributes:
        image: name relative to the data root.
        shape: ``(height, width)`` of the evaluated image (after the protocol).
        scores: ``{row name: {metric: value}}``, gray baseline first; ``delta_cf`` holds the
            signed CF(pred) − CF(target).
        original_colorfulness: CF of the evaluated original, when a colourfulness metric is on.
    """

    image: str
    shape: tuple[int, int]
    scores: dict[str, dict[str, float]]
    original_colorfulness: float | None = None


@dataclass(frozen=True)
class ImageEvent:
    """What happened to one file: ``scored``, ``skipped`` (already gray) or ``failed``."""

    image: str
    status: Literal["scored", "skipped", "failed"]
    reason: str = ""


@dataclass
class EvalReport:
    """Everything one evaluation measured.

    Attributes:
        protocol: how images were cut.
        data: the image set.
        metrics: metric names, in table order.
        rows: row names, :data:`BASELINE_NAME` first, then the models in the order given.
        models: per model row: inference settings (arch, size, saturation, device, half).
        images: per-image values of every scored image, in file order.
        skipped_gray: images skipped because they have no colour.
        failed: ``(image, reason)`` for every file that could not be scored.
        examined: files looked at (fewer than ``data.files`` with a limit).
        seconds: wall time.
    """

    protocol: EvalProtocol
    data: EvalData
    metrics: tuple[str, ...]
    rows: list[str]
    models: dict[str, dict[str, Any]]
    images: list[ImageScores] = field(default_factory=list)
    skipped_gray: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    examined: int = 0
    seconds: float = 0.0
    confidence: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Per model row with a confidence map: per image, the mean ab error (Lab units) of
    its least and of its most confident quarter of pixels."""

    @property
    def scored(self) -> int:
        """Number of images that were scored."""
        return len(self.images)

    def values(self, row: str, metric: str) -> list[float]:
        """Per-image values of ``metric`` for ``row``, in file order."""
        return [image.scores[row][metric] for image in self.images]

    def summary(self, row: str, metric: str) -> MetricSummary:
        """``metric`` of ``row`` over the scored images.

        Raises:
            DataError: no image was scored.
        """
        values = self.values(row, metric)
        if not values:
            raise DataError("no image was scored, so there is nothing to summarise")
        value, low, high = METRICS[metric].summarize(values)
        return MetricSummary(value, low, high, len(values))

    def confidence_summary(self, row: str) -> dict[str, float]:
        """Mean ab error of the least / most confident quarter of pixels over the images."""
        pairs = self.confidence.get(row, [])
        if not pairs:
            return {}
        low = float(np.mean([pair[0] for pair in pairs]))
        high = float(np.mean([pair[1] for pair in pairs]))
        return {
            "error_least_confident_quarter": round(low, 3),
            "error_most_confident_quarter": round(high, 3),
            "ratio": round(low / high, 3) if high > 0 else float("nan"),
        }

    def original_colorfulness(self) -> MetricSummary | None:
        """Mean colourfulness of the originals (the reference of ``colorfulness``), if measured."""
        values = [
            i.original_colorfulness for i in self.images if i.original_colorfulness is not None
        ]
        if not values or not _COLORFULNESS_METRICS & set(self.metrics):
            return None
        value, low, high = mean_and_ci95(values)
        return MetricSummary(value, low, high, len(values))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the schema is documented in ``docs/evaluation.md``)."""
        original = self.original_colorfulness()
        return {
            "colorcli_version": __version__,
            "protocol": self.protocol.to_dict(),
            "data": {
                "root": str(self.data.root),
                "builtin": self.data.builtin,
                "files": len(self.data.files),
            },
            "counts": {
                "files": len(self.data.files),
                "examined": self.examined,
                "scored": self.scored,
                "skipped_gray": len(self.skipped_gray),
                "failed": len(self.failed),
            },
            "metrics": {
                name: {
                    "higher_is_better": METRICS[name].higher_is_better,
                    "level": METRICS[name].level,
                    "description": METRICS[name].description,
                }
                for name in self.metrics
            },
            "models": [
                {
                    "name": row,
                    "kind": "baseline" if row == BASELINE_NAME else "model",
                    **self.models.get(row, {}),
                    "results": (
                        {metric: self.summary(row, metric).to_dict() for metric in self.metrics}
                        if self.scored
                        else {}
                    ),
                }
                for row in self.rows
            ],
            "original": ({"colorfulness": original.to_dict()} if original is not None else None),
            "confidence": {
                row: self.confidence_summary(row) for row in self.confidence if self.confidence[row]
            },
            "skipped_gray": list(self.skipped_gray),
            "failed": [{"image": image, "reason": reason} for image, reason in self.failed],
            "seconds": round(self.seconds, 3),
        }


def write_per_image_csv(report: EvalReport, path: str | Path) -> None:
    """One row per image × row (gray baseline included): ``image, model, <metric>...``.

    The ``delta_cf`` column holds the signed per-image CF(pred) − CF(target); the set's ΔCF
    is the absolute value of its mean.

    Raises:
        DataError: the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["image", "model", *report.metrics])
            for image in report.images:
                for row in report.rows:
                    values = image.scores[row]
                    writer.writerow([image.image, row, *(repr(values[m]) for m in report.metrics)])
    except OSError as error:
        raise DataError(
            f"{path}: cannot write the per-image CSV: {error.strerror or error}"
        ) from None


# --------------------------------------------------------------------------- sample grids


def sample_grid(tiles: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Tiles side by side, each under a label: ``gray | model… | original``.

    Args:
        tiles: ``(label, image)`` pairs; images ``(H, W, 3)`` uint8 or uint16 of one size.
            Tiles whose long side exceeds :data:`SAMPLE_TILE_MAX` are shrunk (area filter).

    Returns:
        ``(SAMPLE_LABEL_HEIGHT + h, len(tiles) * w, 3)`` uint8 (white labels on black,
        Pillow's default font, cut with "…" to fit).
    """
    if not tiles:
        raise ValueError("sample_grid needs at least one tile")
    shapes = {image.shape for _, image in tiles}
    if len(shapes) != 1:
        raise ValueError(f"sample_grid tiles must share one shape, got {sorted(shapes)}")
    height, width = tiles[0][1].shape[:2]
    scale = min(1.0, SAMPLE_TILE_MAX / max(height, width))
    tile_h, tile_w = max(1, round(height * scale)), max(1, round(width * scale))
    canvas = Image.new("RGB", (tile_w * len(tiles), SAMPLE_LABEL_HEIGHT + tile_h))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for index, (label, image) in enumerate(tiles):
        pixels = _to_uint8(image)
        if (tile_h, tile_w) != (height, width):
            pixels = cv2.resize(pixels, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        canvas.paste(Image.fromarray(pixels), (index * tile_w, SAMPLE_LABEL_HEIGHT))
        text = _fit_label(draw, font, label, tile_w - 4)
        draw.text((index * tile_w + 2, 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas).copy()


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return np.rint(pixels.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    return np.ascontiguousarray(pixels)


def _fit_label(draw: ImageDraw.ImageDraw, font: Any, label: str, width: int) -> str:
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength(label + "…", font=font) > width:
        label = label[1:]  # keep the end: for checkpoint paths the file name matters most
    return "…" + label


def _sample_path(folder: Path, image: str, used: set[str]) -> Path:
    relative = Path(image).with_suffix(".png")
    if relative.as_posix() in used:
        relative = Path(image + ".png")
    used.add(relative.as_posix())
    return folder / relative


# --------------------------------------------------------------------------- evaluation


def gray_baseline(pixels: np.ndarray, *, device: torch.device | None = None) -> np.ndarray:
    """The photo's own L with ab = 0: what a colourizer must beat. Same shape and dtype."""
    return join_full_resolution(pixels, torch.zeros(2, 1, 1), device=device)


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
        confidence: record how well colour-class models' confidence ranks their error
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
        for name, colorizer in colorizers.items():
            if colorizer.model.is_classifier:
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
            abs_ = predict_ab(
                colorizer.model,
                inputs,
                device=colorizer.device,
                autocast_dtype=colorizer.autocast_dtype,
                confidence=wants_confidence,
            )
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
        if _COLORFULNESS_METRICS & set(metrics):
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
            path = _sample_path(samples, photo.image, used_sample_names)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ImageError(
                    f"{path.parent}: cannot create: {error.strerror or error}"
                ) from None
            write_image(path, sample_grid(tiles), overwrite=True)
