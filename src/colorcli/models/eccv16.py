"""Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016 — the reference network.

Written from the paper (Fig. 2 and §3): eight conv blocks of 2–3 3×3 convolutions
with ReLU and BatchNorm; blocks 1–3 end with stride 2; blocks 5–6 use dilation 2;
block 8 starts with a ×2 transposed convolution, so ab is predicted at 1/4 of the
input. With ``--colors gamut`` it has the paper's head: 313 in-gamut ab bins,
soft-encoded targets, class rebalancing (λ = 0.5) and annealed-mean decoding
(T = 0.38). ``width`` scales every block (64 in the paper).
"""

from __future__ import annotations

from torch import Tensor, nn

from colorcli.models._registry import register_model
from colorcli.models.blocks import Body


def _convs(
    in_channels: int, out_channels: int, count: int, *, stride: int = 1, dilation: int = 1
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(count):
        last = i == count - 1
        layers += [
            nn.Conv2d(
                in_channels if i == 0 else out_channels,
                out_channels,
                3,
                stride=stride if last else 1,
                padding=dilation,
                dilation=dilation,
            ),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.BatchNorm2d(out_channels))
    return layers


class Eccv16Body(Body):
    """The eight blocks of Zhang et al. 2016; features (4·width ch.) at 1/4 resolution."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        w = width
        self.blocks = nn.Sequential(
            nn.Sequential(*_convs(1, w, 2, stride=2)),
            nn.Sequential(*_convs(w, 2 * w, 2, stride=2)),
            nn.Sequential(*_convs(2 * w, 4 * w, 3, stride=2)),
            nn.Sequential(*_convs(4 * w, 8 * w, 3)),
            nn.Sequential(*_convs(8 * w, 8 * w, 3, dilation=2)),
            nn.Sequential(*_convs(8 * w, 8 * w, 3, dilation=2)),
            nn.Sequential(*_convs(8 * w, 8 * w, 3)),
            nn.Sequential(
                nn.ConvTranspose2d(8 * w, 4 * w, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(4 * w, 4 * w, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(4 * w, 4 * w, 3, padding=1),
                nn.ReLU(inplace=True),
            ),
        )
        self.out_channels = 4 * w
        self.output_stride = 4
        self.size_multiple = 8

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


@register_model("eccv16")
def eccv16(*, width: int = 64) -> Eccv16Body:
    """Zhang et al. 2016 network (``width`` = 64 is the paper's, ~32 M parameters)."""
    return Eccv16Body(width)
