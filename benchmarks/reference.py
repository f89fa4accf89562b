"""The ECCV16 authors' demo pipeline (richzhang/colorization ``demo_release.py``), for scale.

One image at a time: scikit-image ``rgb2lab`` on the full image and on a 256x256
resize, the model on that L, ab upsampled bilinearly to full size, scikit-image
``lab2rgb`` at full resolution (float64). Files are read and written with the same
library as everything else, so only the processing differs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorcli.imageio import read_image, write_image
from colorcli.models import ColorModel


def colorize_like_the_demo(pixels: np.ndarray, model: ColorModel) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> uint8, exactly the demo's pre- and post-processing."""
    from skimage import color  # a dev dependency, used only here

    resized = np.asarray(Image.fromarray(pixels).resize((256, 256), resample=3))
    lab_full = color.rgb2lab(pixels)
    lab_small = color.rgb2lab(resized)
    l_full = torch.from_numpy(lab_full[:, :, 0])[None, None].float()
    l_small = torch.from_numpy(lab_small[:, :, 0])[None, None].float()
    with torch.inference_mode():
        ab = model.predict_ab(l_small)
    ab = F.interpolate(ab, size=pixels.shape[:2], mode="bilinear", align_corners=False)
    lab = torch.cat((l_full, ab), dim=1)[0].permute(1, 2, 0).double().numpy()
    rgb = color.lab2rgb(lab)
    return (rgb * 255).round().clip(0, 255).astype(np.uint8)


def run_reference(folder: Path, out: Path, model: ColorModel) -> float:
    """Colourize every JPEG of ``folder`` into ``out`` the demo's way; return the seconds."""
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in sorted(folder.glob("*.jpg")):
        image = read_image(path)
        colour = colorize_like_the_demo(image.pixels, model)
        write_image(out / path.name, colour, icc_profile=image.icc_profile, exif=image.exif)
    return time.perf_counter() - started
