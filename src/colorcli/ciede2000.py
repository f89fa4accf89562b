"""CIEDE2000 colour difference per pixel (Sharma, Wu & Dalal 2005), in torch."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _hue_angle(a: Tensor, b: Tensor, chroma: Tensor) -> Tensor:
    hue = torch.atan2(b, a)
    hue = torch.where(hue < 0, hue + 2.0 * math.pi, hue)
    return torch.where(chroma == 0, torch.zeros_like(hue), hue)  # Sharma: h = 0 for a = b = 0


def ciede2000(lab1: Tensor, lab2: Tensor) -> Tensor:
    """CIEDE2000 colour difference ΔE00 per pixel, with kL = kC = kH = 1.

    Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005,
    equations (1)-(22), including the hue wrap-around rules for Δh' and h̄'.

    Args:
        lab1: CIELAB ``(*, 3, H, W)``: L in [0, 100], a and b in Lab units.
        lab2: CIELAB of the same shape.

    Returns:
        ``(*, H, W)``, non-negative, in the dtype of the inputs.
    """
    for name, lab in (("lab1", lab1), ("lab2", lab2)):
        if not isinstance(lab, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(lab).__name__}")
        if not lab.is_floating_point():
            raise TypeError(f"{name} must be a floating point tensor, got {lab.dtype}")
        if lab.dim() < 3 or lab.shape[-3] != 3:
            raise ValueError(f"{name} must have shape (*, 3, H, W), got {tuple(lab.shape)}")
    if lab1.shape != lab2.shape:
        raise ValueError(
            f"lab1 and lab2 must have the same shape, got {tuple(lab1.shape)} "
            f"and {tuple(lab2.shape)}"
        )
    l1, a1, b1 = lab1.unbind(-3)
    l2, a2, b2 = lab2.unbind(-3)
    pow25_7 = 25.0**7

    c_mean = 0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))
    c_mean7 = c_mean**7
    g = 0.5 * (1.0 - torch.sqrt(c_mean7 / (c_mean7 + pow25_7)))
    a1p = a1 * (1.0 + g)
    a2p = a2 * (1.0 + g)
    c1p = torch.hypot(a1p, b1)
    c2p = torch.hypot(a2p, b2)
    h1p = _hue_angle(a1p, b1, c1p)
    h2p = _hue_angle(a2p, b2, c2p)

    chroma_product = c1p * c2p
    achromatic = chroma_product == 0
    h_diff = h2p - h1p
    dh = torch.where(h_diff > math.pi, h_diff - 2.0 * math.pi, h_diff)
    dh = torch.where(h_diff < -math.pi, h_diff + 2.0 * math.pi, dh)
    dh = torch.where(achromatic, torch.zeros_like(dh), dh)
    d_l = l2 - l1
    d_c = c2p - c1p
    d_h = 2.0 * torch.sqrt(chroma_product) * torch.sin(dh / 2.0)

    l_bar = 0.5 * (l1 + l2)
    c_bar = 0.5 * (c1p + c2p)
    h_sum = h1p + h2p
    h_bar = torch.where(
        h_diff.abs() <= math.pi,
        h_sum / 2.0,
        torch.where(
            h_sum < 2.0 * math.pi, (h_sum + 2.0 * math.pi) / 2.0, (h_sum - 2.0 * math.pi) / 2.0
        ),
    )
    h_bar = torch.where(achromatic, h_sum, h_bar)

    t = (
        1.0
        - 0.17 * torch.cos(h_bar - math.radians(30.0))
        + 0.24 * torch.cos(2.0 * h_bar)
        + 0.32 * torch.cos(3.0 * h_bar + math.radians(6.0))
        - 0.20 * torch.cos(4.0 * h_bar - math.radians(63.0))
    )
    d_theta = math.radians(30.0) * torch.exp(-(((torch.rad2deg(h_bar) - 275.0) / 25.0) ** 2))
    c_bar7 = c_bar**7
    r_c = 2.0 * torch.sqrt(c_bar7 / (c_bar7 + pow25_7))
    l_shift = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_shift / torch.sqrt(20.0 + l_shift)
    s_c = 1.0 + 0.045 * c_bar
    s_h = 1.0 + 0.015 * c_bar * t
    r_t = -torch.sin(2.0 * d_theta) * r_c

    l_term = d_l / s_l
    c_term = d_c / s_c
    h_term = d_h / s_h
    squared = l_term**2 + c_term**2 + h_term**2 + r_t * c_term * h_term
    return torch.sqrt(squared.clamp(min=0.0))
