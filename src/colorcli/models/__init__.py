"""The model library: every colouriser of the reports behind one registry.

A model is a body (one file per family) plus a head (regression of ab, or
classification over a k-means palette or Zhang et al.'s gamut bins). Models take
L in [0, 100] ``(N, 1, H, W)`` and return ab in Lab units; they know nothing of
files or the network.
"""

from colorcli.models import (  # noqa: F401  (registers the bodies)
    autoencoder,
    cnn,
    eccv16,
    fusion,
    linear,
    lite_unet,
    resnet,
    tiny,
    unet,
)
from colorcli.models._registry import get_body_builder, list_models, register_model
from colorcli.models.colorizer import ColorModel, get_model
from colorcli.models.heads import ClassificationHead, RegressionHead

__all__ = [
    "ClassificationHead",
    "ColorModel",
    "RegressionHead",
    "get_body_builder",
    "get_model",
    "list_models",
    "register_model",
]
