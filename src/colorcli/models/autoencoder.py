"""The convolutional autoencoder of the autoencoder report (L + zero ab in, Lab out).

The report fed a 3-channel Lab image whose ab channels are zero, encoded it with
two stride-2 convolutions and decoded it with three layers (two transposed
convolutions and a final convolution, ReLU between), trained with MSE and Adam on
the Kaggle LAB ``.npy`` data. Here the final convolution is the head, so it
predicts ab (regression) or palette logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from colorcli.models._registry import register_model
from colorcli.models.blocks import Body


class AutoencoderBody(Body):
    """``[L, 0, 0] -> conv s2 -> conv s2 -> deconv ×2 -> deconv ×2`` with ReLU."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.out_channels = width // 2
        self.size_multiple = 4

    def forward(self, x: Tensor) -> Tensor:
        zeros = torch.zeros_like(x)
        return self.decoder(self.encoder(torch.cat((x, zeros, zeros), dim=1)))


@register_model("autoencoder")
def autoencoder(*, width: int = 64) -> AutoencoderBody:
    """Convolutional autoencoder; ``width`` channels after the first convolution."""
    return AutoencoderBody(width)
