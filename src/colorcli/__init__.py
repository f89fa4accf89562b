"""colorcli: colourize grayscale photographs and films with neural networks."""

from __future__ import annotations

__version__ = "0.1.0"

from colorcli.checkpoint import load_model, read_checkpoint, save_checkpoint
from colorcli.color import lab_to_rgb, rgb_to_lab
from colorcli.errors import (
    CheckpointError,
    ColorcliError,
    DataError,
    DeviceError,
    DownloadError,
    ImageError,
    ModelError,
    TrainingError,
    UsageError,
    VideoError,
)
from colorcli.evaluation import EvalReport, evaluate, find_eval_images
from colorcli.imageio import read_image, write_image
from colorcli.models import ColorModel, get_model, list_models, register_model
from colorcli.pipeline import Colorizer
from colorcli.video import colorize_video

__all__ = [
    "CheckpointError",
    "ColorModel",
    "ColorcliError",
    "Colorizer",
    "DataError",
    "DeviceError",
    "DownloadError",
    "EvalReport",
    "ImageError",
    "ModelError",
    "TrainingError",
    "UsageError",
    "VideoError",
    "__version__",
    "colorize_video",
    "evaluate",
    "find_eval_images",
    "get_model",
    "lab_to_rgb",
    "list_models",
    "load_model",
    "read_checkpoint",
    "read_image",
    "register_model",
    "rgb_to_lab",
    "save_checkpoint",
    "write_image",
]
