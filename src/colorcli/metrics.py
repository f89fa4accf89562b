"""Image-quality metrics for colourization as batched tensor functions, plus summary statistics.

Every metric takes a prediction and a target, both sRGB float tensors of shape ``(N, 3, H, W)``
(or ``(3, H, W)``, read as ``N = 1``) with values in [0, 1], on any device, and returns one
value per image, shape ``(N,)``, in float64 (float32 on MPS, which has no float64) so that an
evaluator can concatenate batches of different image sizes and call :func:`mean_and_ci95`.

Metrics marked "8-bit" quantise both images with ``round(clamp(x, 0, 1) * 255)`` first,
because their sources measured saved 8-bit images. The others work on the float values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from colorcli.ciede2000 import ciede2000
from colorcli.color import rgb_to_lab, rgb_to_lightness
from colorcli.statistics import abs_mean_and_ci95, as_float64_vector, mean_and_ci95

PSNR_CAP_DB: float = 100.0
"""PSNR given to identical images (and the ceiling of every PSNR value)."""

ACCURACY_SCALE: float = 7500.0
"""MSE (8-bit RGB units) at which ``accuracy`` reaches 0."""

SSIM_WINDOW: int = 11
"""Side of the Gaussian SSIM window; images must be at least this large."""

_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03
_AB_SCALE = 128.0

# --------------------------------------------------------------------------- input checks


def _check_rgb(image: object, name: str) -> Tensor:
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a floating point tensor in [0, 1], got {image.dtype}")
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(
            f"{name} must have shape (N, 3, H, W) or (3, H, W), got {tuple(image.shape)}"
        )
    if image.shape[-1] == 0 or image.shape[-2] == 0:
        raise ValueError(f"{name} must have at least one pixel, got {tuple(image.shape)}")
    return image if image.dim() == 4 else image.unsqueeze(0)


def _check_pair(pred: object, target: object) -> tuple[Tensor, Tensor]:
    """Check both images and return them batched, on one device, in a common float dtype."""
    pred_t = _check_rgb(pred, "pred")
    target_t = _check_rgb(target, "target")
    if pred_t.shape != target_t.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred_t.shape)} "
            f"and {tuple(target_t.shape)}"
        )
    if pred_t.device != target_t.device:
        raise ValueError(
            f"pred and target must be on the same device, got {pred_t.device} and {target_t.device}"
        )
    dtype = torch.promote_types(pred_t.dtype, target_t.dtype)
    if torch.finfo(dtype).bits < 32:  # half precision is too coarse for Lab and SSIM
        dtype = torch.float32
    return pred_t.to(dtype), target_t.to(dtype)


def _accumulation_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _quantize(rgb: Tensor) -> Tensor:
    """8-bit values 0..255 as exact integers in the accumulation dtype."""
    return torch.round(rgb.clamp(0.0, 1.0) * 255.0).to(_accumulation_dtype(rgb.device))


def _mse_8bit(pred: Tensor, target: Tensor) -> Tensor:
    return (_quantize(pred) - _quantize(target)).square().mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------- pixel metrics


def imgsim(pred: Tensor, target: Tensor) -> Tensor:
    """ImgSim = 1 − ImgDif, from a U-Net colourization report ("8-bit").

    ImgDif = Σ_pixels ‖ΔRGB‖ / 255 / (3·W·H). We read ‖·‖ as the L1 norm over the three
    channels of the per-pixel difference of 8-bit RGB values, so
    ImgDif = Σ_{pixels, channels} |ΔRGB_c| / 255 / (3·W·H), the mean absolute error in
    [0, 1] units.

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].
        target: RGB of the same shape.

    Returns:
        ``(N,)`` in [0, 1]; 1 means identical 8-bit images. Higher is better.
    """
    pred, target = _check_pair(pred, target)
    mae = (_quantize(pred) - _quantize(target)).abs().mean(dim=(1, 2, 3))
    return 1.0 - mae / 255.0


def accuracy(pred: Tensor, target: Tensor) -> Tensor:
    """Accuracy = max(0, (7500 − MSE) / 7500), from an autoencoder colourization report ("8-bit").

    MSE is taken over all pixels and the three channels of 8-bit RGB values (0..255).

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].
        target: RGB of the same shape.

    Returns:
        ``(N,)`` in [0, 1]; 1 means identical. Higher is better.
    """
    pred, target = _check_pair(pred, target)
    mse = _mse_8bit(pred, target)
    return ((ACCURACY_SCALE - mse) / ACCURACY_SCALE).clamp(min=0.0)


def mse_ab(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of the ab channels scaled by 1/128, as in a ResNet34 colourization report.

    Both images are converted with :func:`colorcli.color.rgb_to_lab` (D65); a and b are
    divided by 128 (so they lie in about [-1, 1]) and the squared difference is averaged over
    the pixels and the two channels. Works on the float values (no 8-bit quantisation).

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].
        target: RGB of the same shape.

    Returns:
        ``(N,)``, 0 for identical colours, at most about 4. Lower is better.
    """
    pred, target = _check_pair(pred, target)
    diff = (rgb_to_lab(pred)[:, 1:] - rgb_to_lab(target)[:, 1:]) / _AB_SCALE
    return diff.square().mean(dim=(1, 2, 3), dtype=_accumulation_dtype(pred.device))


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio of the 8-bit RGB images: 10·log10(255² / MSE) ("8-bit").

    MSE is over all pixels and channels of the 8-bit values, data range 255. Identical images
    would give +inf; every value is capped at :data:`PSNR_CAP_DB` (100 dB, reached only when
    fewer than about 1 in 150,000 values differ by one level), so means stay finite.

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].
        target: RGB of the same shape.

    Returns:
        ``(N,)`` in dB, in [0, 100]. Higher is better.
    """
    pred, target = _check_pair(pred, target)
    mse = _mse_8bit(pred, target)
    return (10.0 * torch.log10(255.0**2 / mse)).clamp(max=PSNR_CAP_DB)


# --------------------------------------------------------------------------- SSIM


def _gaussian_window(device: torch.device, dtype: torch.dtype) -> Tensor:
    # Same 1-D kernel as scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.5): radius 5.
    radius = SSIM_WINDOW // 2
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return kernel / kernel.sum()


def _ssim_per_image(x: Tensor, y: Tensor) -> Tensor:
    """Mean SSIM over the valid region and the channels of ``(N, C, H, W)`` images in [0, 1]."""
    n, c, h, w = x.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(
            f"ssim needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {h}x{w}"
        )
    kernel = _gaussian_window(x.device, x.dtype)
    # Filter x, y, x², y², xy in one go: each (image, channel, statistic) is its own plane.
    stats = torch.stack((x, y, x * x, y * y, x * y), dim=2).reshape(n * c * 5, 1, h, w)
    stats = F.conv2d(stats, kernel.view(1, 1, 1, -1))  # valid: no padding
    stats = F.conv2d(stats, kernel.view(1, 1, -1, 1))
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.view(n, c, 5, *stats.shape[-2:]).unbind(2)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y
    c1 = _SSIM_K1**2  # data range 1
    c2 = _SSIM_K2**2
    ssim_map = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean(dim=(1, 2, 3), dtype=_accumulation_dtype(x.device))


def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """Structural similarity on RGB: the mean of the three per-channel SSIMs.

    Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 13(4), 2004: 11×11 Gaussian window with σ = 1.5,
    K1 = 0.01, K2 = 0.03, data range 1, population (co)variances, averaged over the positions
    where the window fits inside the image (no padding). Equals
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0, channel_axis=...)``.

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1], H and W at least 11.
        target: RGB of the same shape.

    Returns:
        ``(N,)`` in [-1, 1]; 1 means identical. Higher is better.

    Raises:
        ValueError: an image is smaller than 11×11.
    """
    pred, target = _check_pair(pred, target)
    return _ssim_per_image(pred, target)


def ssim_l(pred: Tensor, target: Tensor) -> Tensor:
    """SSIM (as in :func:`ssim`) of the CIELAB lightness L / 100, a single channel in [0, 1].

    Lightness comes from :func:`colorcli.color.rgb_to_lightness` (D65). A colourizer that
    keeps the input's L scores close to 1, so this mostly checks that structure survived.

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1], H and W at least 11.
        target: RGB of the same shape.

    Returns:
        ``(N,)`` in [-1, 1]; 1 means identical lightness. Higher is better.

    Raises:
        ValueError: an image is smaller than 11×11.
    """
    pred, target = _check_pair(pred, target)
    return _ssim_per_image(rgb_to_lightness(pred) / 100.0, rgb_to_lightness(target) / 100.0)


def deltae(pred: Tensor, target: Tensor) -> Tensor:
    """Mean CIEDE2000 difference (:func:`ciede2000`) between the images in CIELAB (D65).

    Both images are converted with :func:`colorcli.color.rgb_to_lab`; float values, no
    8-bit quantisation.

    Args:
        pred: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].
        target: RGB of the same shape.

    Returns:
        ``(N,)``, ≥ 0 (about 2.3 is a just-noticeable difference). Lower is better.
    """
    pred, target = _check_pair(pred, target)
    per_pixel = ciede2000(rgb_to_lab(pred), rgb_to_lab(target))
    return per_pixel.mean(dim=(1, 2), dtype=_accumulation_dtype(pred.device))


# --------------------------------------------------------------------------- colourfulness


def colorfulness(rgb: Tensor) -> Tensor:
    """Colourfulness CF of Hasler & Süsstrunk ("8-bit").

    Hasler & Süsstrunk, "Measuring colourfulness in natural images", Proc. SPIE 5007, 2003:
    on 8-bit values, rg = R − G and yb = (R + G)/2 − B;
    CF = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²), with population standard deviations
    over the pixels.

    Args:
        rgb: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].

    Returns:
        ``(N,)``, ≥ 0; 0 for a gray image. Higher means more colourful.
    """
    rgb = _check_rgb(rgb, "rgb")
    if torch.finfo(rgb.dtype).bits < 32:
        rgb = rgb.float()
    red, green, blue = _quantize(rgb).flatten(2).unbind(1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    mean_rg, mean_yb = rg.mean(dim=1), yb.mean(dim=1)
    var_rg = (rg - mean_rg[:, None]).square().mean(dim=1)
    var_yb = (yb - mean_yb[:, None]).square().mean(dim=1)
    spread = torch.sqrt(var_rg + var_yb)
    centre = torch.sqrt(mean_rg**2 + mean_yb**2)
    return spread + 0.3 * centre


def _colorfulness_of_pred(pred: Tensor, target: Tensor) -> Tensor:
    pred, _ = _check_pair(pred, target)
    return colorfulness(pred)


def colorfulness_difference(pred: Tensor, target: Tensor) -> Tensor:
    """Signed per-image CF(pred) − CF(target) (see :func:`colorfulness`).

    Its mean over a set is mean CF(pred) − mean CF(target), so the set-level ΔCF is the
    absolute value of that mean; accumulate these values over batches and summarise them
    with ``METRICS["delta_cf"].summarize``.

    Returns:
        ``(N,)``; positive when the prediction is more colourful than the target.
    """
    pred, target = _check_pair(pred, target)
    return colorfulness(pred) - colorfulness(target)


def delta_colorfulness(
    pred_cf: Tensor | Sequence[float], target_cf: Tensor | Sequence[float]
) -> float:
    """Set-level ΔCF = |mean CF(pred) − mean CF(target)|, as DDColor (2023) and CT2 (2022) report.

    Args:
        pred_cf: colourfulness of every predicted image of the set, shape ``(M,)``.
        target_cf: colourfulness of every original image of the set, shape ``(K,)``.

    Returns:
        ΔCF ≥ 0. Lower is better.
    """
    pred_values = as_float64_vector(pred_cf, "pred_cf")
    target_values = as_float64_vector(target_cf, "target_cf")
    return abs(float(pred_values.mean()) - float(target_values.mean()))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class MetricSpec:
    """A metric as data: what it computes per image and how a set of values is summarised.

    Attributes:
        name: key in :data:`METRICS`.
        function: ``(pred, target) -> (N,)`` per-image values (for a set-level metric, the
            per-image quantity it accumulates).
        higher_is_better: direction of the final summary value.
        description: one line for tables and ``--help``.
        level: ``"image"``: the set value is the mean of per-image values; ``"set"``: only
            the whole set has a value, computed from the accumulated values by ``summarize``.
        summarize: accumulated ``(n,)`` values -> ``(value, low, high)`` with a 95% interval.
    """

    name: str
    function: Callable[[Tensor, Tensor], Tensor]
    higher_is_better: bool
    description: str
    level: Literal["image", "set"] = "image"
    summarize: Callable[[Tensor | Sequence[float]], tuple[float, float, float]] = field(
        default=mean_and_ci95
    )

    @property
    def per_image(self) -> bool:
        return self.level == "image"


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("imgsim", imgsim, True, "1 − mean absolute 8-bit RGB error / 255"),
        MetricSpec("accuracy", accuracy, True, "max(0, (7500 − 8-bit RGB MSE) / 7500)"),
        MetricSpec("mse_ab", mse_ab, False, "MSE of Lab ab / 128"),
        MetricSpec("psnr", psnr, True, "PSNR of 8-bit RGB in dB, capped at 100"),
        MetricSpec("ssim", ssim, True, "SSIM on RGB, mean over channels"),
        MetricSpec("ssim_l", ssim_l, True, "SSIM on Lab lightness L / 100"),
        MetricSpec("deltae", deltae, False, "mean CIEDE2000 colour difference"),
        MetricSpec(
            "colorfulness", _colorfulness_of_pred, True, "Hasler-Süsstrunk colourfulness of pred"
        ),
        MetricSpec(
            "delta_cf",
            colorfulness_difference,
            False,
            "|mean CF(pred) − mean CF(target)| over the set",
            level="set",
            summarize=abs_mean_and_ci95,
        ),
    )
}
"""Every metric by name, in the order tables list them."""


def compute_metrics(
    pred_rgb: Tensor, target_rgb: Tensor, names: Sequence[str]
) -> dict[str, Tensor]:
    """Per-image values of the named metrics for one batch of same-size images.

    To evaluate a set, call this per batch (images of different sizes one at a time or in
    same-size batches), concatenate each name's values and summarise them with
    ``METRICS[name].summarize`` (for ``delta_cf`` the values are the signed per-image
    CF(pred) − CF(target), see :func:`colorfulness_difference`).

    Args:
        pred_rgb: RGB ``(N, 3, H, W)`` or ``(3, H, W)``, float in [0, 1].
        target_rgb: RGB of the same shape.
        names: keys of :data:`METRICS`.

    Returns:
        ``{name: (N,) tensor}`` in the order of ``names``.

    Raises:
        ValueError: an unknown metric name, or bad images (see the metric functions).
        TypeError: an image is not a floating point tensor.
    """
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, unknown))}; known: {', '.join(METRICS)}"
        )
    pred, target = _check_pair(pred_rgb, target_rgb)
    return {name: METRICS[name].function(pred, target) for name in names}
