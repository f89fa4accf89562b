"""Colourize images at full resolution: small L into the model, ab upsampled and joined to full L.

Following richzhang/colorization's demo: the model sees L resized so its long side
is ``size`` (reflect-padded to a square so any mix of image sizes batches
together); the predicted ab is upsampled bilinearly to the original size, clamped,
scaled by ``saturation`` and joined to the original full-resolution L.

The join is the only full-resolution work, so it is written for speed (see
``docs/benchmarks.md``): it runs in horizontal strips (memory beyond the input and
output arrays stays bounded whatever the image size), in torch on the chosen device,
and it never computes CIELAB's L itself. CIELAB's ``f(Y)`` is all that the inverse
transform needs (``L = 116 f(Y) - 16`` and back), and for integer pixels both ``Y`` and
``f(Y)`` are table lookups (256 or 65,536 entries); a gray picture (R = G = B, the
usual input) needs one lookup per pixel instead of three. Upsampling ab, its scale to
CIELAB's f offsets and the matrix to linear RGB are fused where they commute, the
maths runs on planar float32 (plain vectorised loops), and the sRGB gamma of 8-bit
output is a 262,144-entry table of linear values: it agrees with the float64 formula
to the last level on 99.9 % of pixels and is never off by more than one level. 16-bit
output uses the exact formula.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from colorcli.color import _EPSILON, _KAPPA, _RGB_TO_XYZ, _WHITE_D65, _XYZ_TO_RGB, AB_LIMIT
from colorcli.errors import HintError, ModelError
from colorcli.guidance import empty_hints, no_reference
from colorcli.hints import HintPoint, Hints, hint_map, parse_colour, reference_features
from colorcli.models import ColorModel
from colorcli.models.efficientnet_lite import EfficientNetLite
from colorcli.models.heads import ClassificationHead

DEFAULT_SIZE = 256
STRIP_PIXELS = 1 << 18
"""Pixels per strip of the full-resolution join (bounds its temporary memory, ~15 MB)."""

_F_THRESHOLD = 0.2068966  # f(_EPSILON): below it f^-1 is the linear segment (as in color.py)
_GAMMA_LEVELS = 1 << 18
"""Entries of the linear -> 8-bit sRGB table (256 KB: stays in a core's L2 cache)."""


@dataclass(frozen=True)
class ModelInput:
    """One image prepared for the model.

    Attributes:
        lightness: ``(1, size, size)`` float32 L in [0, 100], the content in the top-left
            ``content`` rows/columns and reflect padding elsewhere.
        content: ``(height, width)`` of the resized content inside the square.
    """

    lightness: Tensor
    content: tuple[int, int]
    hints: Tensor | None = None
    """``(3, size, size)`` hint map of a guided model (:mod:`colorcli.guidance`), or None."""
    reference: Tensor | None = None
    """``(REFERENCE_FEATURES,)`` global hint of a guided model, or None."""


def _check_pixels(pixels: np.ndarray) -> None:
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype not in (np.uint8, np.uint16)
        or pixels.ndim != 3
        or pixels.shape[2] != 3
    ):
        shape = getattr(pixels, "shape", None)
        dtype = getattr(pixels, "dtype", type(pixels).__name__)
        raise ValueError(f"pixels must be (H, W, 3) uint8 or uint16, got {shape} {dtype}")


@dataclass(frozen=True)
class _Tables:
    """Lookup tables of one input depth on one device (built once, shared by all threads).

    ``y_rgb[c, v]`` is channel c's share of CIE Y for value v; ``y_gray[v]`` and ``f_gray[v]``
    are Y and f(Y) of the gray (v, v, v); ``lightness_gray[v]`` its L; ``gamma`` maps
    ``int(linear * _GAMMA_LEVELS)`` to the 8-bit sRGB level; ``xyz_to_rgb`` is the (3, 3)
    matrix of relative XYZ (D65 white folded in) to linear RGB, and ``xyz_to_gamma_index``
    the same times ``_GAMMA_LEVELS``.
    """

    y_rgb: Tensor
    y_gray: Tensor
    f_gray: Tensor
    lightness_gray: Tensor
    gamma: Tensor
    xyz_to_rgb: Tensor
    xyz_to_gamma_index: Tensor


def _srgb_to_linear64(values: Tensor) -> Tensor:
    return torch.where(values > 0.04045, ((values + 0.055) / 1.055) ** 2.4, values / 12.92)


def _linear_to_srgb(values: Tensor) -> Tensor:
    return torch.where(
        values > 0.0031308, 1.055 * values.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * values
    )


def _f(y: Tensor) -> Tensor:
    """CIELAB's f on relative Y (any float dtype); same formula as :mod:`colorcli.color`."""
    return torch.where(
        y > _EPSILON, y.clamp(min=_EPSILON) ** (1.0 / 3.0), _KAPPA * y + 16.0 / 116.0
    )


@functools.lru_cache(maxsize=16)
def _tables(device: torch.device, levels: int) -> _Tables:
    values = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    linear = _srgb_to_linear64(values)
    weights = torch.tensor(_RGB_TO_XYZ[1], dtype=torch.float64)
    y_rgb = weights[:, None] * linear[None]
    y_gray = y_rgb.sum(dim=0)
    f_gray = _f(y_gray)
    # entry i holds the level of the middle of [i, i + 1) / _GAMMA_LEVELS, so that truncating
    # linear * _GAMMA_LEVELS to an integer picks the nearest level
    middles = (torch.arange(_GAMMA_LEVELS, dtype=torch.float64) + 0.5) / _GAMMA_LEVELS
    gamma = (_linear_to_srgb(middles) * 255.0).round_()
    matrix = torch.tensor(_XYZ_TO_RGB, dtype=torch.float64) * torch.tensor(_WHITE_D65)
    return _Tables(
        y_rgb=y_rgb.float().to(device),
        y_gray=y_gray.float().to(device),
        f_gray=f_gray.float().to(device),
        lightness_gray=(116.0 * f_gray - 16.0).float().to(device),
        gamma=gamma.to(torch.uint8).to(device),
        xyz_to_rgb=matrix.float().to(device),
        xyz_to_gamma_index=(matrix * _GAMMA_LEVELS).float().to(device),
    )


def _is_gray(rgb: Tensor) -> bool:
    """Whether ``rgb (..., 3)`` integer pixels have R = G = B everywhere."""
    return bool(torch.equal(rgb[..., 0], rgb[..., 1]) and torch.equal(rgb[..., 1], rgb[..., 2]))


def _y_and_f(flat: Tensor, tables: _Tables) -> tuple[Tensor, Tensor]:
    """Relative Y and f(Y), each ``(N,)`` float32, of integer colour pixels ``flat (N, 3)``."""
    y = tables.y_rgb[0].index_select(0, flat[:, 0].to(torch.int32))
    y += tables.y_rgb[1].index_select(0, flat[:, 1].to(torch.int32))
    y += tables.y_rgb[2].index_select(0, flat[:, 2].to(torch.int32))
    return y, _f(y)


def _levels(pixels: np.ndarray) -> int:
    return 65_536 if pixels.dtype == np.uint16 else 256


def _as_index_tensor(pixels: np.ndarray) -> Tensor:
    """A torch view (uint8) or copy (uint16 -> int32, torch has few uint16 ops) of pixels."""
    if pixels.dtype == np.uint16:
        return torch.from_numpy(pixels.astype(np.int32))
    with warnings.catch_warnings():
        # only read from: a read-only array (e.g. np.asarray of a PIL image) is fine
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(pixels)


def prepare_input(
    pixels: np.ndarray, size: int = DEFAULT_SIZE, hints: Hints | None = None
) -> ModelInput:
    """Resize ``pixels (H, W, 3)`` so the long side is ``size``; return its L, padded square.

    Args:
        pixels: ``(H, W, 3)`` uint8 or uint16 sRGB.
        size: side of the square the model sees.
        hints: colour hints and/or a reference photo for a guided model.

    Raises:
        HintError: a hint outside the photo, a bad hint image or reference.
    """
    _check_pixels(pixels)
    height, width = pixels.shape[:2]
    scale = size / max(height, width)
    content = (max(1, round(height * scale)), max(1, round(width * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(pixels, (content[1], content[0]), interpolation=interpolation)
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    tables = _tables(torch.device("cpu"), _levels(pixels))
    flat = _as_index_tensor(np.ascontiguousarray(small)).view(-1, 3)
    if _is_gray(flat):
        lightness = tables.lightness_gray.index_select(0, flat[:, 0].to(torch.int32))
    else:
        lightness = _y_and_f(flat, tables)[1].mul_(116.0).sub_(16.0)
    lightness = lightness.view(1, *content)
    pad_h, pad_w = size - content[0], size - content[1]
    if pad_h or pad_w:
        mode = "reflect" if pad_h < content[0] and pad_w < content[1] else "replicate"
        lightness = F.pad(lightness[None], (0, pad_w, 0, pad_h), mode=mode)[0]
    if not hints:
        return ModelInput(lightness=lightness, content=content)
    hint_tensor = None
    if hints.points or hints.image is not None:
        hint_tensor = hint_map(hints, pixels, lightness, content)
    reference = None if hints.reference is None else reference_features(hints.reference)
    return ModelInput(lightness=lightness, content=content, hints=hint_tensor, reference=reference)


def _guidance_batch(
    inputs: Sequence[ModelInput], device: torch.device
) -> tuple[Tensor | None, Tensor | None]:
    """Stacked hint maps and references of a batch (empty ones for images without)."""
    hints = reference = None
    if any(item.hints is not None for item in inputs):
        hints = torch.stack(
            [
                item.hints if item.hints is not None else empty_hints(item.lightness[None])[0]
                for item in inputs
            ]
        ).to(device)
    if any(item.reference is not None for item in inputs):
        reference = torch.stack(
            [
                item.reference if item.reference is not None else no_reference(1)[0]
                for item in inputs
            ]
        ).to(device)
    return hints, reference


@torch.inference_mode()
def predict_ab(
    model: ColorModel,
    inputs: Sequence[ModelInput],
    *,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    forward: Callable[[Tensor], Tensor] | None = None,
    confidence: bool = False,
) -> list[Tensor]:
    """Run the model on a batch; return each image's ab ``(2, h, w)`` (its content only, CPU).

    With ``confidence`` each result is ``(3, h, w)``: ab, then the model's per-pixel
    confidence in [0, 1] (:meth:`ColorModel.confidence`). Inputs carrying hints or a
    reference are run with them (guided models only; others raise ModelError).

    Args:
        model: the colouriser (already on ``device``).
        inputs: prepared images, all of the same square size.
        device: where the model is.
        autocast_dtype: fp16/bf16 autocast on CUDA/MPS, or None for float32.
        forward: replaces ``model.predict_ab`` (e.g. its ``torch.compile``-d form).
    """
    batch = torch.stack([item.lightness for item in inputs])
    if device.type == "cuda":
        # pinned host memory makes the copy asynchronous
        batch = batch.pin_memory().to(device, non_blocking=True)
    else:
        batch = batch.to(device)
    if device.type in ("cpu", "cuda"):
        batch = batch.contiguous(memory_format=torch.channels_last)
    hints, reference = _guidance_batch(inputs, device)
    with_guidance = hints is not None or reference is not None
    context: contextlib.AbstractContextManager = contextlib.nullcontext()
    if autocast_dtype is not None and device.type != "cpu":
        context = torch.autocast(device.type, dtype=autocast_dtype)
    maps: Tensor | None = None
    with context:
        if with_guidance or confidence:
            output = model(batch, hints, reference)
            ab = model.decode(output)
            if ab.shape[-2:] != batch.shape[-2:]:
                ab = F.interpolate(ab, size=batch.shape[-2:], mode="bilinear", align_corners=False)
            if confidence:
                maps = model.confidence(output)
                maps = F.interpolate(
                    maps, size=batch.shape[-2:], mode="bilinear", align_corners=False
                )
        else:
            ab = (forward or model.predict_ab)(batch)
    ab = ab.float().clamp_(-AB_LIMIT, AB_LIMIT).cpu()
    abs_ = [ab[i, :, : item.content[0], : item.content[1]] for i, item in enumerate(inputs)]
    if maps is None:
        return abs_
    maps = maps.float().clamp_(0.0, 1.0).cpu()
    return [
        torch.cat((ab_i, maps[i, :, : item.content[0], : item.content[1]]))
        for i, (ab_i, item) in enumerate(zip(abs_, inputs, strict=True))
    ]


@dataclass(frozen=True)
class _Rows:
    """ab offsets upsampled to full width; :meth:`offsets` interpolates rows on demand.

    Same sampling as ``F.interpolate(mode="bilinear", align_corners=False)``: output row
    ``i`` reads source row ``(i + 0.5) * h / H - 0.5``, clamped at the edges.
    """

    columns: Tensor
    """``(h, 2 * W)``: each small row, a/500 then b/200, at full width."""
    first: Tensor
    second: Tensor
    weight: Tensor

    @classmethod
    def upsample(cls, small: Tensor, height: int, width: int) -> _Rows:
        """From ``small (2, h, w)`` for an output of ``height`` x ``width``."""
        rows = small.shape[1]
        wide = F.interpolate(small[None], size=(rows, width), mode="bilinear", align_corners=False)
        columns = wide[0].transpose(0, 1).reshape(rows, 2 * width)
        position = (torch.arange(height, dtype=torch.float64) + 0.5) * (rows / height) - 0.5
        position = position.clamp_(0, rows - 1)
        first = position.floor().long()
        second = (first + 1).clamp_(max=rows - 1)
        weight = (position - first).float().view(-1, 1)
        device = small.device
        return cls(columns, first.to(device), second.to(device), weight.to(device))

    def __getitem__(self, rows: slice) -> _Rows:
        return _Rows(self.columns, self.first[rows], self.second[rows], self.weight[rows])

    def offsets(self) -> Tensor:
        """``(n, 2 * W)`` offsets of the selected rows."""
        return torch.lerp(
            self.columns.index_select(0, self.first),
            self.columns.index_select(0, self.second),
            self.weight,
        )


def _f_inverse(f: Tensor) -> Tensor:
    """CIELAB's f^-1 (as :func:`colorcli.color.lab_to_rgb`), computed in place in ``f``."""
    upper = f > _F_THRESHOLD  # decided before f is overwritten below
    cube = f * f
    cube *= f
    f.sub_(16.0 / 116.0).mul_(1.0 / _KAPPA)
    return torch.where(upper, cube, f, out=f)


def join_full_resolution(
    pixels: np.ndarray,
    ab: Tensor,
    *,
    saturation: float = 1.0,
    device: torch.device | None = None,
    out: np.ndarray | None = None,
    engine: Literal["auto", "torch"] = "auto",
) -> np.ndarray:
    """Join predicted ab to the L of the original image at full resolution.

    Args:
        pixels: original image ``(H, W, 3)`` uint8 or uint16 (sRGB); only its L is used.
        ab: predicted ab ``(2, h, w)`` in Lab units, any small size.
        saturation: factor applied to ab (1 = as predicted, 0 = gray).
        device: where to do the maths (CPU by default).
        out: array to write the result into (same shape and dtype as ``pixels``); may be
            ``pixels`` itself, which saves a full-size copy.
        engine: ``"auto"`` converts 8-bit images on the CPU with OpenCV's vectorised
            Lab -> sRGB (1.5x faster on gray input here, the same on colour input) and
            everything else with torch on ``device``; ``"torch"`` always uses torch. Both
            agree with the float64 maths to one level.

    Returns:
        Colour image ``(H, W, 3)`` of the same dtype as ``pixels`` (``out`` when given).
    """
    _check_pixels(pixels)
    if not isinstance(ab, Tensor) or ab.dim() != 3 or ab.shape[0] != 2 or ab.numel() == 0:
        raise ValueError(f"ab must be a (2, h, w) tensor, got {getattr(ab, 'shape', ab)}")
    if out is None:
        out = np.empty(pixels.shape, dtype=pixels.dtype)  # C order, whatever the input's
    elif out.shape != pixels.shape or out.dtype != pixels.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous {pixels.shape} {pixels.dtype} array, "
            f"got {out.shape} {out.dtype}"
        )
    if engine not in ("auto", "torch"):
        raise ValueError(f"engine must be 'auto' or 'torch', got {engine!r}")
    device = device or torch.device("cpu")
    height, width = pixels.shape[:2]
    tables = _tables(device, _levels(pixels))
    small = ab.to(device=device, dtype=torch.float32) * saturation
    small = small.clamp_(-AB_LIMIT, AB_LIMIT)
    # 8-bit on the CPU: OpenCV's vectorised Lab -> sRGB; else torch on the device
    with_opencv = engine == "auto" and device.type == "cpu" and pixels.dtype == np.uint8
    if not with_opencv:
        # Lab -> f offsets on the small grid: a/500 and b/200 are linear, so they commute
        # with the bilinear upsampling
        small *= torch.tensor([1 / 500, 1 / 200], device=device).view(2, 1, 1)
    # columns are upsampled once, rows strip by strip
    rows = _Rows.upsample(small, height, width)
    rows_per_strip = max(1, STRIP_PIXELS // width)
    join = _join_strip_opencv if with_opencv else _join_strip
    for top in range(0, height, rows_per_strip):
        bottom = min(height, top + rows_per_strip)
        strip = _as_index_tensor(pixels[top:bottom]).to(device, non_blocking=True)
        join(strip.view(-1, 3), rows[top:bottom], tables, out[top:bottom])
    return out


def _join_strip_opencv(flat: Tensor, rows: _Rows, tables: _Tables, out: np.ndarray) -> None:
    """8-bit colour of one strip on the CPU, through ``cv2.cvtColor``.

    ``flat (N, 3)`` uint8 pixels and their ab rows (Lab units) into ``out (n, W, 3)``: a
    handful of passes over the pixels instead of the ~35 of :func:`_join_strip`.
    """
    height, width = out.shape[:2]
    if _is_gray(flat):
        lightness = tables.lightness_gray.index_select(0, flat[:, 0].to(torch.int32))
    else:
        lightness = _y_and_f(flat, tables)[1].mul_(116.0).sub_(16.0)
    lightness = lightness.view(height, width)
    ab = rows.offsets()  # (n, 2 * W): a then b of each row
    # f(Z) = f(Y) - b/200 must not go below 0 (as colorcli.color.lab_to_rgb clamps it);
    # OpenCV would carry a negative Z into the red channel of dark, strongly yellow pixels
    b = torch.minimum(ab[:, width:], lightness.add(16.0).mul_(200.0 / 116.0))
    lab = cv2.merge([lightness.numpy(), ab[:, :width].numpy(), b.numpy()])  # (n, W, 3)
    del ab, b, lightness
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)  # float32 in [0, 1], clipped
    del lab
    cv2.convertScaleAbs(rgb, dst=out, alpha=255.0)  # rounds; values are >= 0 already


def _join_strip(flat: Tensor, rows: _Rows, tables: _Tables, out: np.ndarray) -> None:
    """Colour of one strip: ``flat (N, 3)`` integer pixels, its offsets, into ``out``."""
    pixels = flat.shape[0]
    xyz = torch.empty((3, pixels), device=flat.device)  # planar: every op is a plain loop
    if _is_gray(flat):
        index = flat[:, 0].to(torch.int32)
        torch.index_select(tables.y_gray, 0, index, out=xyz[1])
        fy = tables.f_gray.index_select(0, index)
        del index
    else:
        y, fy = _y_and_f(flat, tables)
        xyz[1] = y
        del y
    offsets = rows.offsets()  # (n, 2 * W): a/500 then b/200 of each row
    width = offsets.shape[1] // 2
    fy_rows = fy.view(-1, width)
    _f_inverse(torch.add(fy_rows, offsets[:, :width], out=xyz[0].view(-1, width)))
    torch.sub(fy_rows, offsets[:, width:], out=xyz[2].view(-1, width)).clamp_(min=0.0)
    _f_inverse(xyz[2])
    del fy, fy_rows, offsets
    target = torch.from_numpy(out).view(-1, 3)
    if out.dtype == np.uint8:
        scaled = torch.mm(tables.xyz_to_gamma_index, xyz).clamp_(0.0, _GAMMA_LEVELS - 1)
        del xyz
        index = torch.empty((pixels, 3), dtype=torch.int32, device=flat.device)
        index.copy_(scaled.T)  # truncates toward zero: the table holds each bin's middle
        del scaled
        if flat.device.type == "cpu":
            torch.index_select(tables.gamma, 0, index.view(-1), out=target.view(-1))
        else:
            target.view(-1).copy_(tables.gamma.index_select(0, index.view(-1)))
    else:
        linear = torch.mm(tables.xyz_to_rgb, xyz).clamp_(0.0, 1.0)
        levels = _linear_to_srgb(linear).mul_(65535.0).round_().to(torch.int32)
        target.copy_(levels.T.cpu())


def _conv_norm_pairs(model: nn.Module) -> list[tuple[nn.Sequential, int]]:
    """(container, index) of each Conv2d directly followed by a foldable BatchNorm2d."""
    return [
        (container, index)
        for container in model.modules()
        if isinstance(container, nn.Sequential)
        for index in range(len(container) - 1)
        if isinstance(container[index], nn.Conv2d)
        and isinstance(container[index + 1], nn.BatchNorm2d)
        and container[index + 1].running_mean is not None  # eval uses the running stats
    ]


def _for_inference(model: ColorModel) -> ColorModel:
    """``model`` with each BatchNorm that follows a convolution folded into it (eval only).

    Works on a copy when there is anything to fold, so the caller's model is untouched.
    """
    has_lite = any(isinstance(m, EfficientNetLite) for m in model.modules())
    if not _conv_norm_pairs(model) and not has_lite:
        return model
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, EfficientNetLite):
            module.fold_batch_norm()
    for container, index in _conv_norm_pairs(folded):
        conv, norm = container[index], container[index + 1]
        assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
        container[index] = fuse_conv_bn_eval(conv, norm)
        container[index + 1] = nn.Identity()
    return folded


def _with_temperature(model: ColorModel, temperature: float) -> ColorModel:
    """A copy of ``model`` whose annealed-mean decoding uses ``temperature``."""
    if not 0.01 <= temperature <= 10.0:
        raise ValueError(f"temperature must be in [0.01, 10], got {temperature}")
    head = model.head
    if not isinstance(head, ClassificationHead):
        how = "regresses ab"
    elif head.decode_method != "annealed":
        how = f"decodes its colour classes by {head.decode_method}"
    else:
        how = ""
    if how:
        raise ModelError(
            f"this {model.arch} model {how}: a temperature applies only to models that "
            "decode colour classes by annealed mean"
        )
    model = copy.deepcopy(model)
    assert isinstance(model.head, ClassificationHead)
    model.head.temperature = temperature
    return model


class Colorizer:
    """A loaded model plus inference settings; colourizes batches of full-size images.

    Args:
        model: a :class:`ColorModel` (moved to ``device`` and put in eval mode).
        device: compute device.
        size: inference size (long side of the L the model sees).
        saturation: factor applied to predicted ab (default: the model's published
            ``inference_saturation``, else 1).
        half: run the model in fp16/bf16 autocast on CUDA/MPS (ignored on CPU).
        compile: run the model through ``torch.compile`` (slow first batch; needs a
            working compiler toolchain).
        temperature: annealed-mean temperature of a colour-class model (lower = bolder,
            rarer colours; 1 = the plain mean), instead of the one it was trained with.

    Raises:
        ValueError: ``size``, ``saturation`` or ``temperature`` out of range.
        ModelError: ``temperature`` for a model that does not decode by annealed mean.
    """

    def __init__(
        self,
        model: ColorModel,
        *,
        device: torch.device | None = None,
        size: int | None = None,
        saturation: float | None = None,
        half: bool = False,
        compile: bool = False,
        temperature: float | None = None,
    ) -> None:
        size = size or model.inference_size or DEFAULT_SIZE
        if saturation is None:
            published = model.inference_saturation
            saturation = 1.0 if published is None else published
        if size < 8:
            raise ValueError(f"inference size must be at least 8, got {size}")
        if saturation < 0:
            raise ValueError(f"saturation must be >= 0, got {saturation}")
        if temperature is not None:
            model = _with_temperature(model, temperature)
        self.device = device or torch.device("cpu")
        self.model = _for_inference(model).to(self.device).eval()
        if self.device.type in ("cpu", "cuda"):
            # oneDNN and cuDNN both run NHWC convolutions faster (about 20 % on CPU here)
            self.model = self.model.to(memory_format=torch.channels_last)
        multiple = model.body.size_multiple
        self.size = max(multiple, (size + multiple - 1) // multiple * multiple)
        self.saturation = saturation
        self.autocast_dtype: torch.dtype | None = None
        if half and self.device.type == "cuda":
            self.autocast_dtype = (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            )
        elif half and self.device.type == "mps":
            self.autocast_dtype = torch.float16
        self.forward: Callable[[Tensor], Tensor] | None = None
        """What runs the model on a batch: None for ``model.predict_ab``, else compiled."""
        if compile:
            self.forward = torch.compile(self.model.predict_ab, dynamic=False)

    def predict(self, inputs: Sequence[ModelInput], *, confidence: bool = False) -> list[Tensor]:
        """ab ``(2, h, w)`` of prepared images (one model batch), on the CPU; with
        ``confidence``, ``(3, h, w)``: ab then the per-pixel confidence."""
        return predict_ab(
            self.model,
            inputs,
            device=self.device,
            autocast_dtype=self.autocast_dtype,
            forward=self.forward,
            confidence=confidence,
        )

    def prepare(self, pixels: np.ndarray, hints: Hints | None = None) -> ModelInput:
        """:func:`prepare_input` at this colouriser's size; hints need a guided model.

        Raises:
            ModelError: hints or a reference for a model that takes none.
            HintError: see :func:`prepare_input`.
        """
        if hints and not self.model.accepts_hints:
            raise ModelError(
                f"this {self.model.arch} model takes no colour hints or reference photo; "
                "use a guided model (e.g. lite0-guided)"
            )
        return prepare_input(pixels, self.size, hints)

    def join(self, pixels: np.ndarray, ab: Tensor, *, out: np.ndarray | None = None) -> np.ndarray:
        """:func:`join_full_resolution` with this colouriser's saturation and device."""
        return join_full_resolution(
            pixels, ab, saturation=self.saturation, device=self.device, out=out
        )

    def colorize_many(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colourize ``(H, W, 3)`` uint8/uint16 images (any sizes) in one model batch."""
        if not images:
            return []
        abs_ = self.predict([prepare_input(pixels, self.size) for pixels in images])
        return [self.join(pixels, ab) for pixels, ab in zip(images, abs_, strict=True)]

    def colorize(
        self,
        pixels: np.ndarray,
        hints: Hints | Sequence[HintPoint | tuple[float, float, str]] | np.ndarray | None = None,
        reference: np.ndarray | None = None,
    ) -> np.ndarray:
        """Colourize one ``(H, W, 3)`` uint8/uint16 image; same shape and dtype out.

        Args:
            pixels: the photo.
            hints: guided models: points ``(x, y, colour)`` (pixels of ``pixels``, or
                fractions written as floats in [0, 1]; colour as ``#rrggbb``, a CSS name or
                an RGB tuple), :class:`HintPoint` s, an RGBA hint image ``(h, w, 4)`` uint8
                (alpha > 0 marks hinted pixels; scaled to the photo), or :class:`Hints`.
            reference: guided models: an RGB photo whose colours to follow.

        Raises:
            HintError: a malformed hint or one outside the photo.
            ModelError: hints for a model that takes none.
        """
        guidance = as_hints(hints, reference)
        if not guidance:
            return self.colorize_many([pixels])[0]
        ab = self.predict([self.prepare(pixels, guidance)])[0]
        return self.join(pixels, ab)

    def confidence_map(self, pixels: np.ndarray, hints: Hints | None = None) -> np.ndarray:
        """Per-pixel confidence of the model on ``pixels``, full size ``(H, W)`` uint8 (255 = sure).

        Raises:
            ModelError: a regression model (no colour distribution to be sure of).
        """
        result = self.predict([self.prepare(pixels, hints)], confidence=True)[0]
        return confidence_to_image(result[2], pixels.shape[:2])


def confidence_to_image(confidence: Tensor, size: tuple[int, int]) -> np.ndarray:
    """A ``(h, w)`` confidence in [0, 1] as an 8-bit gray image of ``size`` (H, W)."""
    small = (confidence.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def as_hints(
    hints: Hints | Sequence[HintPoint | tuple[float, float, object]] | np.ndarray | None,
    reference: np.ndarray | None = None,
) -> Hints:
    """Normalise the ``hints=`` / ``reference=`` arguments of :meth:`Colorizer.colorize`.

    Raises:
        HintError: a point that is not ``(x, y, colour)`` or an unknown colour.
    """
    if isinstance(hints, Hints):
        result = Hints(list(hints.points), hints.image, hints.reference)
    elif isinstance(hints, np.ndarray):
        result = Hints(image=hints)
    else:
        result = Hints()
        for item in hints or []:
            if isinstance(item, HintPoint):
                result.points.append(item)
                continue
            try:
                x, y, colour = item
            except (TypeError, ValueError):
                raise HintError(f"a hint must be (x, y, colour), got {item!r}") from None
            if isinstance(colour, str):
                rgb = parse_colour(colour)
            else:
                try:
                    values = [int(c) for c in colour]  # type: ignore[attr-defined]
                except TypeError:
                    raise HintError(f"unknown colour {colour!r} in hint {item!r}") from None
                if len(values) != 3 or not all(0 <= c <= 255 for c in values):
                    raise HintError(f"colour {colour!r} must be 3 values in 0-255")
                rgb = (values[0], values[1], values[2])
            relative = isinstance(x, float) and isinstance(y, float) and x <= 1 and y <= 1
            result.points.append(
                HintPoint(float(x), float(y), rgb, relative=relative, text=f"{x},{y}={colour}")
            )
    if reference is not None:
        result.reference = reference
    return result
