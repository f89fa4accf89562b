"""Lab → sRGB at full resolution through lookup tables: the join of predicted ab to full L.

The join is the only full-resolution work of colourizing, so it is written for speed
(see ``docs/benchmarks.md``): it runs in horizontal strips (memory beyond the input and
output arrays stays bounded whatever the image size), in torch on the chosen device,
and it never computes CIELAB's L itself. CIELAB's ``f(Y)`` is all that the inverse
transform needs (``L = 116 f(Y) - 16`` and back), and for integer pixels both ``Y`` and
``f(Y)`` are table lookups (256 or 65,536 entries); a gray picture (R = G = B, the
usual input) needs one lookup per pixel instead of three. Upsampling ab, its scale to
CIELAB's f offsets and the matrix to linear RGB are fused where they commute, the
maths runs on planar float32 (plain vectorised loops), and the sRGB gamma of 8-bit
output is a 262,144-entry table of linear values: it agrees with the float64 formula
to the last level on 99.9 % of pixels and is never off by more than one level. 16-bit
output uses the exact formula. The formulas are those of :mod:`colorcli.color`.

A colour outside the sRGB gamut at its pixel's L is desaturated towards the gray of that
L (:func:`colorcli.color.desaturate_into_gamut`), never clipped per channel, so the
output's lightness is always the input's, whatever ab a model or a hint asks for.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from colorcli.color import (
    AB_LIMIT,
    LAB_F_THRESHOLD,
    LAB_KAPPA,
    RGB_TO_XYZ,
    WHITE_D65,
    XYZ_TO_RGB,
    desaturate_into_gamut,
    lab_f,
    linear_to_srgb,
    srgb_to_linear,
)

STRIP_PIXELS = 1 << 18
"""Pixels per strip of the full-resolution join (bounds its temporary memory, ~15 MB)."""

_GAMMA_LEVELS = 1 << 18
"""Entries of the linear -> 8-bit sRGB table (256 KB: stays in a core's L2 cache)."""


def check_pixels(pixels: np.ndarray) -> None:
    """Raise ValueError unless ``pixels`` is an ``(H, W, 3)`` uint8 or uint16 array."""
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

    ``y_rgb[c, v]`` is channel c's share of CIE Y for value v; ``f_gray[v]`` is f(Y)
    of the gray (v, v, v); ``lightness_gray[v]`` its L; ``gamma`` maps
    ``int(linear * _GAMMA_LEVELS)`` to the 8-bit sRGB level; ``xyz_to_rgb`` is the (3, 3)
    matrix of relative XYZ (D65 white folded in) to linear RGB, its rows scaled to sum to
    exactly 1 (the white point of :data:`WHITE_D65` and the one implied by the primaries
    differ in the fifth digit).
    """

    y_rgb: Tensor
    f_gray: Tensor
    lightness_gray: Tensor
    gamma: Tensor
    xyz_to_rgb: Tensor


@functools.lru_cache(maxsize=16)
def _tables(device: torch.device, levels: int) -> _Tables:
    values = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    linear = srgb_to_linear(values)
    weights = torch.tensor(RGB_TO_XYZ[1], dtype=torch.float64)
    y_rgb = weights[:, None] * linear[None]
    y_gray = y_rgb.sum(dim=0)
    f_gray = lab_f(y_gray)
    # entry i holds the level of the middle of [i, i + 1) / _GAMMA_LEVELS, so that truncating
    # linear * _GAMMA_LEVELS to an integer picks the nearest level
    middles = (torch.arange(_GAMMA_LEVELS, dtype=torch.float64) + 0.5) / _GAMMA_LEVELS
    gamma = (linear_to_srgb(middles) * 255.0).round_()
    matrix = torch.tensor(XYZ_TO_RGB, dtype=torch.float64) * torch.tensor(WHITE_D65)
    matrix /= matrix.sum(dim=1, keepdim=True)
    return _Tables(
        y_rgb=y_rgb.float().to(device),
        f_gray=f_gray.float().to(device),
        lightness_gray=(116.0 * f_gray - 16.0).float().to(device),
        gamma=gamma.to(torch.uint8).to(device),
        xyz_to_rgb=matrix.float().to(device),
    )


def _is_gray(rgb: Tensor) -> bool:
    """Whether ``rgb (..., 3)`` integer pixels have R = G = B everywhere."""
    return bool(torch.equal(rgb[..., 0], rgb[..., 1]) and torch.equal(rgb[..., 1], rgb[..., 2]))


def _y_and_f(flat: Tensor, tables: _Tables) -> tuple[Tensor, Tensor]:
    """Relative Y and f(Y), each ``(N,)`` float32, of integer colour pixels ``flat (N, 3)``."""
    y = tables.y_rgb[0].index_select(0, flat[:, 0].to(torch.int32))
    y += tables.y_rgb[1].index_select(0, flat[:, 1].to(torch.int32))
    y += tables.y_rgb[2].index_select(0, flat[:, 2].to(torch.int32))
    return y, lab_f(y)


def _lightness(flat: Tensor, tables: _Tables) -> Tensor:
    """CIELAB L ``(N,)`` float32 in [0, 100] of integer pixels ``flat (N, 3)``."""
    if _is_gray(flat):
        return tables.lightness_gray.index_select(0, flat[:, 0].to(torch.int32))
    return _y_and_f(flat, tables)[1].mul_(116.0).sub_(16.0)


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


def lightness_of(pixels: np.ndarray) -> Tensor:
    """CIELAB L of sRGB pixels through the lookup tables.

    Args:
        pixels: ``(H, W, 3)`` uint8 or uint16 sRGB.

    Returns:
        ``(H, W)`` float32 L in [0, 100], on the CPU.
    """
    check_pixels(pixels)
    tables = _tables(torch.device("cpu"), _levels(pixels))
    flat = _as_index_tensor(np.ascontiguousarray(pixels)).view(-1, 3)
    return _lightness(flat, tables).view(pixels.shape[:2])


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
    upper = f > LAB_F_THRESHOLD  # decided before f is overwritten below
    cube = f * f
    cube *= f
    f.sub_(16.0 / 116.0).mul_(1.0 / LAB_KAPPA)
    return torch.where(upper, cube, f, out=f)


def join_full_resolution(
    pixels: np.ndarray,
    ab: Tensor,
    *,
    saturation: float = 1.0,
    device: torch.device | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Join predicted ab to the L of the original image at full resolution.

    Args:
        pixels: original image ``(H, W, 3)`` uint8 or uint16 (sRGB); only its L is used.
        ab: predicted ab ``(2, h, w)`` in Lab units, any small size.
        saturation: factor applied to ab (1 = as predicted, 0 = gray).
        device: where to do the maths (CPU by default).
        out: array to write the result into (same shape and dtype as ``pixels``); may be
            ``pixels`` itself, which saves a full-size copy.

    Returns:
        Colour image ``(H, W, 3)`` of the same dtype as ``pixels`` (``out`` when given).
    """
    check_pixels(pixels)
    if not isinstance(ab, Tensor) or ab.dim() != 3 or ab.shape[0] != 2 or ab.numel() == 0:
        raise ValueError(f"ab must be a (2, h, w) tensor, got {getattr(ab, 'shape', ab)}")
    if out is None:
        out = np.empty(pixels.shape, dtype=pixels.dtype)  # C order, whatever the input's
    elif out.shape != pixels.shape or out.dtype != pixels.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous {pixels.shape} {pixels.dtype} array, "
            f"got {out.shape} {out.dtype}"
        )
    device = device or torch.device("cpu")
    height, width = pixels.shape[:2]
    tables = _tables(device, _levels(pixels))
    small = ab.to(device=device, dtype=torch.float32) * saturation
    small = small.clamp_(-AB_LIMIT, AB_LIMIT)
    # Lab -> f offsets on the small grid: a/500 and b/200 are linear, so they commute
    # with the bilinear upsampling
    small *= torch.tensor([1 / 500, 1 / 200], device=device).view(2, 1, 1)
    # columns are upsampled once, rows strip by strip
    rows = _Rows.upsample(small, height, width)
    rows_per_strip = max(1, STRIP_PIXELS // width)
    for top in range(0, height, rows_per_strip):
        bottom = min(height, top + rows_per_strip)
        strip = _as_index_tensor(pixels[top:bottom]).to(device, non_blocking=True)
        _join_strip(strip.view(-1, 3), rows[top:bottom], tables, out[top:bottom])
    return out


def _in_gamut(xyz: Tensor, tables: _Tables) -> Tensor:
    """Linear sRGB ``(3, N)`` in [0, 1] of relative XYZ ``(3, N)`` (X and Z rows are
    overwritten), out-of-gamut colours desaturated at their own Y (only the columns that
    need it are touched).

    Computed as ``Y + M[:, (0, 2)] (X - Y, Z - Y)``: the gray of luminance Y is (Y, Y, Y)
    to the bit, so zero ab gives R = G = B whatever the float rounding of the matrix.
    """
    luminance = xyz[1:2]
    xyz[0::2] -= luminance
    linear = torch.addmm(luminance, tables.xyz_to_rgb[:, 0::2], xyz[0::2])
    outside = (linear.amin(dim=0) < 0.0) | (linear.amax(dim=0) > 1.0)
    columns = outside.nonzero().view(-1)
    if columns.numel():
        linear[:, columns] = desaturate_into_gamut(linear[:, columns], xyz[1:2, columns], dim=0)
    return linear


def _join_strip(flat: Tensor, rows: _Rows, tables: _Tables, out: np.ndarray) -> None:
    """Colour of one strip: ``flat (N, 3)`` integer pixels, its offsets, into ``out``."""
    pixels = flat.shape[0]
    xyz = torch.empty((3, pixels), device=flat.device)  # planar: every op is a plain loop
    if _is_gray(flat):
        fy = tables.f_gray.index_select(0, flat[:, 0].to(torch.int32))
    else:
        fy = _y_and_f(flat, tables)[1]
    # Y from f(Y) as X and Z are (not from the table): zero ab then gives X = Y = Z exactly
    _f_inverse(xyz[1].copy_(fy))
    offsets = rows.offsets()  # (n, 2 * W): a/500 then b/200 of each row
    width = offsets.shape[1] // 2
    fy_rows = fy.view(-1, width)
    _f_inverse(torch.add(fy_rows, offsets[:, :width], out=xyz[0].view(-1, width)))
    torch.sub(fy_rows, offsets[:, width:], out=xyz[2].view(-1, width)).clamp_(min=0.0)
    _f_inverse(xyz[2])
    del fy, fy_rows, offsets
    target = torch.from_numpy(out).view(-1, 3)
    linear = _in_gamut(xyz, tables)
    del xyz
    if out.dtype == np.uint8:
        scaled = linear.mul_(_GAMMA_LEVELS).clamp_(0.0, _GAMMA_LEVELS - 1)
        index = torch.empty((pixels, 3), dtype=torch.int32, device=flat.device)
        index.copy_(scaled.T)  # truncates toward zero: the table holds each bin's middle
        del scaled
        if flat.device.type == "cpu":
            torch.index_select(tables.gamma, 0, index.view(-1), out=target.view(-1))
        else:
            target.view(-1).copy_(tables.gamma.index_select(0, index.view(-1)))
    else:
        levels = linear_to_srgb(linear).mul_(65535.0).round_().to(torch.int32)
        target.copy_(levels.T.cpu())
