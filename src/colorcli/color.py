"""sRGB (D65) <-> CIELAB conversion in torch, batched, differentiable, on any device.

Maths: IEC 61966-2-1 sRGB transfer function, sRGB primaries with the D65 white
point, and the CIE 1976 L*a*b* definition (CIE 15:2004). Same formulas as
``kornia.color.lab`` and ``skimage.color.rgb2lab`` (illuminant D65, 2° observer).

Ranges: RGB in [0, 1]; L in [0, 100]; a and b roughly in [-128, 127].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

L_RANGE: tuple[float, float] = (0.0, 100.0)
AB_LIMIT: float = 127.0
"""ab values are clamped to [-AB_LIMIT, AB_LIMIT] before converting back to RGB."""

RGB_TO_XYZ: tuple[tuple[float, ...], ...] = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
"""``(3, 3)`` linear sRGB -> CIE XYZ (D65, absolute: Y of white is 1)."""
# The exact inverse (as scikit-image computes it), not the rounded textbook matrix,
# so that a round trip is exact to float precision.
XYZ_TO_RGB: tuple[tuple[float, ...], ...] = tuple(
    tuple(float(v) for v in row)
    for row in torch.linalg.inv(torch.tensor(RGB_TO_XYZ, dtype=torch.float64)).tolist()
)
"""``(3, 3)`` CIE XYZ (D65) -> linear sRGB, the inverse of :data:`RGB_TO_XYZ`."""
WHITE_D65: tuple[float, float, float] = (0.95047, 1.0, 1.08883)
"""XYZ of the D65 white point (2° observer); CIELAB works on XYZ divided by it."""
LAB_EPSILON: float = 0.008856  # (6/29)**3
"""Relative X, Y or Z above which CIELAB's f is the cube root (below it, linear)."""
LAB_KAPPA: float = 7.787  # (29/6)**2 / 3
"""Slope of the linear segment of CIELAB's f: ``f(t) = LAB_KAPPA * t + 16/116``."""
LAB_F_THRESHOLD: float = 0.2068966  # 6/29
"""``f(LAB_EPSILON)``: above it f^-1 is the cube, below it the linear segment."""


def lab_f(t: Tensor) -> Tensor:
    """CIELAB's f of relative X, Y or Z ``t`` (any shape and float dtype, >= 0)."""
    return torch.where(
        t > LAB_EPSILON, t.clamp(min=LAB_EPSILON) ** (1.0 / 3.0), LAB_KAPPA * t + 16.0 / 116.0
    )


def _check_image(image: Tensor, name: str) -> None:
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (*, 3, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a floating point tensor, got {image.dtype}")


def _matmul_channels(image: Tensor, matrix: tuple[tuple[float, ...], ...]) -> Tensor:
    m = torch.tensor(matrix, device=image.device, dtype=image.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, image)


def srgb_to_linear(rgb: Tensor) -> Tensor:
    """Undo the sRGB gamma. ``rgb``: any shape, values in [0, 1]."""
    return torch.where(
        rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92
    )


def linear_to_srgb(linear: Tensor) -> Tensor:
    """Apply the sRGB gamma. ``linear``: any shape, values in [0, 1] (clamped)."""
    linear = linear.clamp(0.0, 1.0)
    return torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055,
        12.92 * linear,
    )


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """Convert sRGB to CIELAB (D65).

    Args:
        rgb: float tensor of shape ``(*, 3, H, W)``, values in [0, 1].

    Returns:
        Tensor of the same shape and dtype: L in [0, 100], a and b about [-128, 127].
    """
    _check_image(rgb, "rgb")
    xyz = _matmul_channels(srgb_to_linear(rgb), RGB_TO_XYZ)
    white = torch.tensor(WHITE_D65, device=rgb.device, dtype=rgb.dtype).view(3, 1, 1)
    xyz = xyz / white
    fx, fy, fz = lab_f(xyz).unbind(-3)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return torch.stack((lightness, a, b), dim=-3)


def desaturate_into_gamut(linear: Tensor, luminance: Tensor, dim: int = -3) -> Tensor:
    """Move out-of-gamut linear sRGB colours towards the gray of their own luminance.

    Each colour ``c`` becomes ``Y + s (c - Y)`` with the largest ``s`` in [0, 1] that puts
    every channel in [0, 1]. Y is linear in linear RGB, and the gray of luminance Y is
    ``(Y, Y, Y)``, so CIE Y (hence CIELAB L) is kept exactly; the colour keeps its dominant
    wavelength and loses only the chroma the gamut has no room for. Per-channel clipping,
    the alternative, changes L (it darkens a saturated yellow and lightens a deep blue).

    Args:
        linear: linear sRGB, channels along ``dim`` (3 of them), any range.
        luminance: relative CIE Y of the same colours, size 1 along ``dim``; clamped to
            [0, 1].

    Returns:
        A new tensor like ``linear`` with every value in [0, 1].
    """
    luminance = luminance.clamp(0.0, 1.0)
    offset = linear - luminance
    # per channel, the share of the offset at which it reaches 1 (above) or 0 (below)
    room = torch.where(offset > 0, 1.0 - luminance, luminance)
    share = room / offset.abs().clamp(min=1e-12)
    share = share.amin(dim=dim, keepdim=True).clamp_(0.0, 1.0)
    return (luminance + share * offset).clamp_(0.0, 1.0)


def lab_to_rgb(lab: Tensor, clip: bool = True, keep_lightness: bool = False) -> Tensor:
    """Convert CIELAB (D65) to sRGB; ab is clamped to ±``AB_LIMIT`` first.

    Args:
        lab: float tensor of shape ``(*, 3, H, W)``: L in [0, 100], a and b in Lab units.
        clip: clamp the result to [0, 1] (out-of-gamut colours are clipped per channel).
        keep_lightness: bring out-of-gamut colours into [0, 1] at their own L instead
            (:func:`desaturate_into_gamut`, as the full-resolution join does); implies
            ``clip``.

    Returns:
        sRGB tensor of the same shape and dtype, in [0, 1] when ``clip``.
    """
    _check_image(lab, "lab")
    lightness, a, b = lab.unbind(-3)
    a = a.clamp(-AB_LIMIT, AB_LIMIT)
    b = b.clamp(-AB_LIMIT, AB_LIMIT)
    fy = (lightness + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = (fy - b / 200.0).clamp(min=0.0)
    f = torch.stack((fx, fy, fz), dim=-3)
    xyz = torch.where(f > LAB_F_THRESHOLD, f**3, (f - 16.0 / 116.0) / LAB_KAPPA)
    white = torch.tensor(WHITE_D65, device=lab.device, dtype=lab.dtype).view(3, 1, 1)
    linear = _matmul_channels(xyz * white, XYZ_TO_RGB)
    if keep_lightness:
        return linear_to_srgb(desaturate_into_gamut(linear, xyz[..., 1:2, :, :]))
    if clip:
        return linear_to_srgb(linear)
    return torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055,
        12.92 * linear,
    )


def rgb_to_lightness(rgb: Tensor) -> Tensor:
    """L channel of ``rgb`` ``(*, 3, H, W)`` in [0, 1] as ``(*, 1, H, W)`` in [0, 100]."""
    _check_image(rgb, "rgb")
    y = _matmul_channels(srgb_to_linear(rgb), RGB_TO_XYZ)[..., 1:2, :, :]
    return 116.0 * lab_f(y) - 16.0


def gray_lab(lightness: Tensor) -> Tensor:
    """Lab image with the given L ``(*, 1, H, W)`` and zero ab: shape ``(*, 3, H, W)``."""
    zeros = torch.zeros_like(lightness)
    return torch.cat((lightness, zeros, zeros), dim=-3)


class RgbToLab(nn.Module):
    """Module form of :func:`rgb_to_lab`."""

    def forward(self, rgb: Tensor) -> Tensor:
        return rgb_to_lab(rgb)


class LabToRgb(nn.Module):
    """Module form of :func:`lab_to_rgb`."""

    def __init__(self, clip: bool = True) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, lab: Tensor) -> Tensor:
        return lab_to_rgb(lab, clip=self.clip)
