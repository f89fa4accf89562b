"""Helpers of the serve tests: tiny checkpoints, test photos and a multipart HTTP client."""

from __future__ import annotations

import http.client
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.models import get_model
from colorcli.models.lite_unet import HintBranch


def save_guided_checkpoint(path: Path) -> Path:
    """A random-weight guided lite0 with a 16-colour gamut head (takes hints, has confidence).

    The hint branch's output layers start at zero in a new model (it begins as the
    automatic one); large random ones here make hints and references change the
    colours by many levels (std 0.5 moves them by one).
    """
    torch.manual_seed(0)
    model = get_model("lite0", guided=True, width=8, colors="gamut", num_classes=16)
    grid = torch.arange(-30.0, 31, 20)
    model.head.set_palette(torch.cartesian_prod(grid, grid))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, HintBranch):
                for layer in (*module.inject.values(), module.inject_reference):
                    nn.init.normal_(layer.weight, std=10.0)
    save_checkpoint(path, checkpoint_from_model(model))
    return path


def save_regression_checkpoint(path: Path) -> Path:
    """A random-weight ``unet`` regressing ab (no hints, no confidence)."""
    torch.manual_seed(0)
    model = get_model("unet", width=4, depth=2)
    with torch.no_grad():
        model.head.conv.bias.copy_(torch.tensor([0.2, 0.3]))
    save_checkpoint(path, checkpoint_from_model(model))
    return path


def gray_photo(width: int = 60, height: int = 40, seed: int = 0) -> np.ndarray:
    """A smooth gray picture (gradient plus noise), ``(H, W)`` uint8."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(30, 220, width)[None, :] + np.linspace(0, 30, height)[:, None]
    return np.clip(ramp + rng.normal(0, 6, (height, width)), 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "PNG", **options: object) -> bytes:
    """``pixels`` encoded as a file in memory (Pillow's ``save`` options)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return str(self.json()["error"])


def multipart(
    fields: dict[str, str] | None = None, files: dict[str, tuple[str, bytes]] | None = None
) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data form, as a browser sends it."""
    boundary = f"----colorcli{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, value in (fields or {}).items():
        chunks += [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode(),
            value.encode(),
            b"\r\n",
        ]
    for name, (filename, data) in (files or {}).items():
        chunks += [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    host: str | None = None,
    timeout: float = 120.0,
) -> Reply:
    """One request to 127.0.0.1:port; ``host`` replaces the Host header."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=host is not None)
        if host is not None and host != "":
            connection.putheader("Host", host)
        all_headers = dict(headers or {})
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
        for key, value in all_headers.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def post_form(
    port: int,
    path: str = "/api/colorize",
    *,
    image: bytes | None = None,
    filename: str = "photo.png",
    fields: dict[str, str] | None = None,
    reference: bytes | None = None,
    headers: dict[str, str] | None = None,
    host: str | None = None,
) -> Reply:
    """POST a colourize form: ``image`` as the file field, ``fields`` as text fields."""
    files = {}
    if image is not None:
        files["image"] = (filename, image)
    if reference is not None:
        files["reference"] = ("reference.png", reference)
    content_type, body = multipart(fields, files)
    return request(
        port, "POST", path, body, {"Content-Type": content_type, **(headers or {})}, host=host
    )


def rgb_of(reply: Reply) -> np.ndarray:
    """The answered image as ``(H, W, 3)`` int32."""
    return np.asarray(decode(reply.body).convert("RGB"), dtype=np.int32)
