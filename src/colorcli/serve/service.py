"""The work behind ``colorcli serve``'s API: one uploaded form in, one encoded image out.

Nothing here knows HTTP: :class:`ColorizeService` takes the parsed form of a request and
returns the bytes to send. Images are decoded and encoded by :mod:`colorcli.imageio`, as
``colorcli colorize`` does (EXIF orientation applied, ICC profile, EXIF and alpha kept,
decompression bombs refused), through files in a working folder that the server owns.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colorcli import hub
from colorcli.checkpoint import load_model
from colorcli.errors import ColorcliError, HintError, UsageError
from colorcli.hints import HintPoint, Hints, parse_colour
from colorcli.imageio import LoadedImage, read_image_bytes, write_gray_image, write_image
from colorcli.pipeline import Colorizer, join_full_resolution
from colorcli.serve.forms import FormField, RequestError

MAX_SATURATION = 4.0
"""Largest ``saturation`` a request may ask for (as ``colorize --saturation``)."""
MAX_HINTS = 256
"""Most point hints one request may carry."""
LOADED_MODELS = 2
"""Colourizers kept in memory: the served model and the one most recently asked for."""

_SAFE_NAME = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class EncodedImage:
    """An image ready to send.

    Attributes:
        data: the encoded file.
        content_type: its media type (``image/png`` or ``image/jpeg``).
        filename: a name for saving it, e.g. ``photo_color.jpg``.
    """

    data: bytes
    content_type: str
    filename: str


ClientGone = Callable[[], bool]
"""Says whether the client that asked for a job has disconnected (then the job stops)."""


class Abandoned(Exception):
    """The client went away before its job ran: nothing is computed or kept."""


class ColorizeService:
    """Colourize uploads with a served model (and, on request, another published one).

    Not thread-safe: the server runs every call on its single worker thread.

    Args:
        colorizer: the served model and its inference settings.
        label: the served model's name: its published name, or the checkpoint path it was
            loaded from; requests that name it (or an alias of it) get ``colorizer``.
        workdir: a private folder for encoding; every file written there is removed
            before the call returns.
        max_pixels: largest image (width * height) decoded.
        device: where other models are loaded.
        size: their inference size (None = each model's own).
    """

    def __init__(
        self,
        colorizer: Colorizer,
        *,
        label: str,
        workdir: Path,
        max_pixels: int,
        device: torch.device | None = None,
        size: int | None = None,
    ) -> None:
        self.label = label
        self.workdir = workdir
        self.max_pixels = max_pixels
        self.device = device or colorizer.device
        self.size = size
        self._served = colorizer
        self._others: OrderedDict[str, Colorizer] = OrderedDict()
        self._local: dict[str, bool] = {}

    # ------------------------------------------------------------------ requests

    def colorize(
        self, form: dict[str, FormField], gone: ClientGone = lambda: False
    ) -> EncodedImage:
        """Colourize ``form["image"]`` at full resolution with the form's settings.

        Fields: ``image`` (file), optional ``hints`` (JSON ``[{"x", "y", "color"}]`` in
        pixels of the image), ``saturation`` (0-4), ``model`` (a published name or the
        served model) and ``reference`` (file).

        Returns:
            PNG for PNG input (and for alpha or 16 bits, which JPEG cannot keep), else
            JPEG; the input's size, ICC profile and EXIF.

        Raises:
            RequestError: a missing or malformed field (400), an image over the pixel
                limit (413).
            ColorcliError: what ``colorize`` would say about the image, hints or model.
            Abandoned: ``gone()`` turned true before the model ran.
        """
        colorizer, label = self._colorizer(form)
        guidance = self._guidance(form, colorizer, label)
        saturation = _saturation(form, colorizer.saturation)
        image, name = self._read(form)
        if gone():
            raise Abandoned
        ab = colorizer.predict([colorizer.prepare(image.pixels, guidance or None)])[0]
        pixels = join_full_resolution(
            image.pixels, ab, saturation=saturation, device=colorizer.device, out=image.pixels
        )
        lossless = image.source_format == "PNG" or image.alpha is not None or image.bit_depth > 8
        suffix = "png" if lossless else "jpg"
        data = self._encode(
            pixels, suffix, alpha=image.alpha, icc_profile=image.icc_profile, exif=image.exif
        )
        content_type = "image/png" if lossless else "image/jpeg"
        return EncodedImage(data, content_type, f"{name}_color.{suffix}")

    def confidence(
        self, form: dict[str, FormField], gone: ClientGone = lambda: False
    ) -> EncodedImage:
        """The model's confidence on ``form["image"]`` as a gray PNG of the image's size.

        White where the model is sure of the colour, dark where a hint would help. Same
        fields as :meth:`colorize` (``saturation`` is ignored).

        Raises:
            RequestError, ColorcliError, Abandoned: as :meth:`colorize`.
        """
        colorizer, label = self._colorizer(form)
        guidance = self._guidance(form, colorizer, label)
        image, name = self._read(form)
        if gone():
            raise Abandoned
        gray = colorizer.confidence_map(image.pixels, guidance or None)
        data = self._encode(gray, "png")
        return EncodedImage(data, "image/png", f"{name}_confidence.png")

    def models(self) -> dict[str, Any]:
        """What ``GET /api/models`` answers: the served model and the published ones.

        ``served`` describes the model requests get by default (``accepts_hints``,
        ``confidence``, ``saturation``, ``size``); ``models`` lists the manifest's
        entries, each with ``local`` (a copy of the right size is on this machine, so it
        can be used offline; it is verified when loaded) and ``default``.
        """
        served = self._served
        answer: dict[str, Any] = {
            "served": {
                "name": self.label,
                "arch": served.model.arch,
                "accepts_hints": served.model.accepts_hints,
                "confidence": served.model.is_classifier,
                "saturation": served.saturation,
                "size": served.size,
            },
            "models": [],
        }
        manifest = hub.load_manifest()
        for entry in manifest.models:
            if entry.name not in self._local:
                self._local[entry.name] = _has_local_copy(entry)
            answer["models"].append(
                {
                    "name": entry.name,
                    "arch": entry.arch,
                    "head": entry.head,
                    "description": entry.description,
                    "default": entry.name == manifest.default,
                    "local": self._local[entry.name],
                }
            )
        return answer

    # ------------------------------------------------------------------ pieces

    def _colorizer(self, form: dict[str, FormField]) -> tuple[Colorizer, str]:
        """The colourizer a form's ``model`` asks for, and its name for messages.

        Only published names are loaded (never a path a page sends), and only from a
        verified local copy: the server never downloads on a request.
        """
        field = form.get("model")
        name = field.text() if field is not None else ""
        if not name or name == self.label:
            return self._served, self.label
        entry = hub.load_manifest().get(name)  # ModelError: unknown model 'x'; available: …
        if entry.name == self.label:
            return self._served, self.label
        if entry.name not in self._others:
            model = load_model(entry.name, device=self.device, download=False)
            self._others[entry.name] = Colorizer(model, device=self.device, size=self.size)
            while len(self._others) > LOADED_MODELS - 1:
                self._others.popitem(last=False)
        self._others.move_to_end(entry.name)
        return self._others[entry.name], entry.name

    def _read(self, form: dict[str, FormField]) -> tuple[LoadedImage, str]:
        """The uploaded image, decoded, and the stem of its file name."""
        field = form.get("image")
        if field is None or field.filename is None:
            raise RequestError(400, "no photo: send the image as the file field 'image'")
        name = _file_stem(field.filename)
        return self._decode(field, name), name

    def _decode(self, field: FormField, name: str) -> LoadedImage:
        try:
            return read_image_bytes(field.data, name=name, max_pixels=self.max_pixels)
        except ColorcliError as error:
            if "image too large" in str(error):  # imageio's wording for the pixel limit
                raise RequestError(413, str(error)) from None
            raise

    def _guidance(self, form: dict[str, FormField], colorizer: Colorizer, label: str) -> Hints:
        """Point hints and reference of a form (empty Hints when it has neither)."""
        guidance = Hints(points=parse_hints_json(form["hints"].text()) if "hints" in form else [])
        reference = form.get("reference")
        if reference is not None and reference.data:
            try:
                guidance.reference = self._decode(reference, "reference").pixels
            except RequestError:
                raise
            except ColorcliError as error:
                raise HintError(str(error)) from None
        if guidance and not colorizer.model.accepts_hints:
            raise UsageError(
                f"model {label} takes no colour hints or reference; "
                "use a guided model (--model lite0-guided)"
            )
        return guidance

    def _encode(self, pixels: np.ndarray, suffix: str, **metadata: Any) -> bytes:
        """Encode through :func:`write_image` (:func:`write_gray_image` for ``(H, W)``
        pixels) into the working folder; return the file."""
        path = self.workdir / f"{uuid.uuid4().hex}.{suffix}"
        try:
            if pixels.ndim == 2:
                write_gray_image(path, pixels)
            else:
                write_image(path, pixels, **metadata)
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)


def served_name(model: str | Path | None) -> str:
    """The name requests use for a ``--model`` value: its published name (the default's
    too, and an alias's entry), else the checkpoint path as given."""
    manifest = hub.load_manifest()
    if model is None or model == hub.DEFAULT_NAME:
        return manifest.default or hub.DEFAULT_NAME
    if Path(model).expanduser().is_file():
        return str(model)
    entry = manifest.find(str(model))
    return entry.name if entry is not None else str(model)


def parse_hints_json(text: str) -> list[HintPoint]:
    """``[{"x": 120, "y": 340, "color": "#c0392b"}, …]`` (pixels of the photo) -> points.

    Raises:
        HintError: not such a list, a coordinate that is not a number >= 0, an unknown
            colour (the CLI's wording), or more than :data:`MAX_HINTS` hints.
    """
    if not text:
        return []
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise HintError(f"hints are not JSON ({error})") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise HintError('hints must be a JSON list of {"x": …, "y": …, "color": "#rrggbb"}')
    if len(items) > MAX_HINTS:
        raise HintError(f"too many hints ({len(items)}; at most {MAX_HINTS})")
    points = []
    for item in items:
        x, y, colour = item.get("x"), item.get("y"), item.get("color")
        text = f"{x},{y}={colour}"
        numbers = all(
            isinstance(value, int | float) and not isinstance(value, bool) for value in (x, y)
        )
        if not numbers or not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
            raise HintError(f"hint {text!r}: coordinates must be numbers >= 0")
        if not isinstance(colour, str):
            raise HintError(f"hint {text!r}: color must be a string such as #c0392b")
        points.append(HintPoint(float(x), float(y), parse_colour(colour), text=text))
    return points


def _saturation(form: dict[str, FormField], default: float) -> float:
    field = form.get("saturation")
    if field is None or not field.text():
        return default
    try:
        value = float(field.text())
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= MAX_SATURATION:
        raise RequestError(
            400, f"saturation must be a number in 0-{MAX_SATURATION:g}, got {field.text()!r}"
        )
    return value


def _has_local_copy(entry: hub.ModelEntry) -> bool:
    """A shipped or cached file of the entry's size (hashing every file would take seconds)."""
    for path in (hub.shipped_path(entry), hub.cached_path(entry)):
        with contextlib.suppress(OSError):
            if path.stat().st_size == entry.size:
                return True
    return False


def _file_stem(filename: str) -> str:
    """A safe stem for the result's name (``photo`` when the upload has none)."""
    stem = Path(filename.replace("\\", "/")).stem
    return _SAFE_NAME.sub("_", stem).strip("._") or "photo"
