"""The checkpoint schema shared by the model library, training and the hub.

A checkpoint is a plain dict of tensors and JSON-able metadata, loaded with
``torch.load(..., weights_only=True)`` only::

    {"format": "colorcli.checkpoint", "version": 1, "arch": "unet",
     "config": {...get_model keywords...}, "state_dict": {...},
     "training": {...summary...}, "metrics": {...}, "colorcli_version": "0.1.0",
     "inference_size": 128,  # optional: the --size this model colours best at
     "inference_saturation": 0.9}  # optional: the --saturation it was published with

Training checkpoints (``last.pt``) wrap one under the key ``"model"`` next to the
optimizer state; :func:`read_checkpoint` accepts both.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor

from colorcli import __version__
from colorcli.atomic import atomic_write
from colorcli.errors import CheckpointError, ModelError
from colorcli.models import ColorModel, get_model, list_models

CHECKPOINT_FORMAT = "colorcli.checkpoint"
CHECKPOINT_VERSION = 1
MAX_CHECKPOINT_BYTES = 2 * 1024**3
"""Files larger than this are refused before reading (no model of ours comes close)."""

_REQUIRED_KEYS = ("format", "version", "arch", "config", "state_dict")


def checkpoint_from_model(
    model: ColorModel,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    half: bool = False,
) -> dict[str, Any]:
    """Describe ``model`` as a checkpoint dict (weights on CPU, fp16 when ``half``)."""
    state: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        if half and value.is_floating_point():
            value = value.half()
        state[key] = value.clone()
    checkpoint: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "arch": model.arch,
        "config": dict(model.config),
        "state_dict": state,
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
        "colorcli_version": __version__,
    }
    if model.inference_size is not None:
        checkpoint["inference_size"] = int(model.inference_size)
    if model.inference_saturation is not None:
        checkpoint["inference_saturation"] = float(model.inference_saturation)
    return checkpoint


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temp file in the same folder, then rename).

    Raises:
        CheckpointError: the file cannot be written (disk full, read-only folder, …); an
            existing file at ``path`` is left as it was.
    """
    try:
        atomic_write(path, lambda stream: _save(checkpoint, stream))
    except OSError as error:
        raise CheckpointError(f"{path}: cannot write: {error.strerror or error}") from None


def _save(checkpoint: dict[str, Any], stream: IO[bytes]) -> None:
    try:
        torch.save(checkpoint, stream)
    except RuntimeError as error:
        # after a failed write (disk full) torch's zip writer fails to close, and its
        # RuntimeError ("unexpected pos") would hide the OSError that says why
        if isinstance(error.__context__, OSError):
            raise error.__context__ from None
        raise


def load_weights_file(path: str | Path, *, what: str = "checkpoint") -> Any:
    """The one safe loader: ``torch.load(path, weights_only=True)`` with its checks.

    Every file of weights colorcli opens (its checkpoints, training states, third-party
    ImageNet weights) goes through here, so each gets the same refusals and messages.

    Raises:
        CheckpointError: missing, empty, too large, truncated, or a pickle that would run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: {what} is empty (0 bytes)")
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{path}: {what} is {size / 1e9:.1f} GB, over the {MAX_CHECKPOINT_BYTES / 1e9:.1f}"
            " GB limit"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused: not a plain weights {what} ({unpickling_reason(error)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: truncated or corrupt {what} ({first})") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with :func:`load_weights_file` and check its schema.

    Returns the model checkpoint dict (unwrapping a training checkpoint's ``"model"``).

    Raises:
        CheckpointError: missing, too large, truncated, not a checkpoint, or a pickle that
            would run code.
    """
    path = Path(path)
    data = load_weights_file(path)
    if isinstance(data, dict) and "format" not in data and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a colorcli checkpoint (got {type(data).__name__})")
    missing = [key for key in _REQUIRED_KEYS if key not in data]
    if missing or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a colorcli checkpoint (missing {', '.join(missing) or 'format tag'})"
        )
    if not isinstance(data["version"], int) or isinstance(data["version"], bool):
        raise CheckpointError(f"{path}: checkpoint version is not a number: {data['version']!r}")
    if data["version"] > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {data['version']} is newer than this colorcli "
            f"understands ({CHECKPOINT_VERSION}); upgrade colorcli"
        )
    return data


def unpickling_reason(error: pickle.UnpicklingError) -> str:
    """The informative line of ``torch.load(weights_only=True)``'s refusal.

    Torch's message opens with general advice; the line naming what was refused (for
    example ``Trying to load unsupported GLOBAL posix.system``) comes later.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "unsupported" in line.lower() or "GLOBAL" in line:
            return f"weights_only load refused it: {line.removeprefix('WeightsUnpickler error: ')}"
    return f"weights_only load failed: {lines[0]}" if lines else "unpickling failed"


def model_from_checkpoint(checkpoint: dict[str, Any], source: str = "checkpoint") -> ColorModel:
    """Rebuild the exact model a checkpoint describes and load its weights (float32, eval mode).

    Raises:
        CheckpointError: unknown architecture, bad configuration, missing or unexpected keys,
            wrong shapes or dtypes, NaN or infinite weights.
    """
    if not isinstance(checkpoint, dict) or "arch" not in checkpoint:
        raise CheckpointError(f"{source}: not a colorcli checkpoint (no architecture name)")
    arch = checkpoint["arch"]
    if not isinstance(arch, str) or arch not in list_models():
        raise CheckpointError(
            f"{source}: unknown architecture {arch!r}; this colorcli knows "
            f"{', '.join(list_models())}"
        )
    config = checkpoint.get("config")
    if not isinstance(config, dict) or not all(isinstance(key, str) for key in config):
        raise CheckpointError(f"{source}: bad model configuration: {config!r:.80}")
    config = dict(config)
    config.pop("pretrained", None)  # weights come from the checkpoint, never from the hub
    try:
        model = get_model(arch, **config)
    except (ModelError, ValueError) as error:
        raise CheckpointError(f"{source}: bad model configuration: {error}") from None
    state = checkpoint["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: state_dict is not a dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {missing[0]}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) e.g. {unexpected[0]}")
        raise CheckpointError(f"{source}: weights do not match {arch!r}: {'; '.join(parts)}")
    for key, value in state.items():
        if not isinstance(value, Tensor) or value.shape != expected[key].shape:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise CheckpointError(
                f"{source}: weights do not match {arch!r}: {key} has shape {got}, "
                f"expected {tuple(expected[key].shape)}"
            )
        if value.is_floating_point() != expected[key].is_floating_point() or value.is_complex():
            raise CheckpointError(
                f"{source}: weights do not match {arch!r}: {key} is {value.dtype}, "
                f"expected {expected[key].dtype}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{source}: {key} holds NaN or infinite weights")
    model.load_state_dict(state)
    inference_size = checkpoint.get("inference_size")
    if inference_size is not None:
        if not isinstance(inference_size, int) or not 8 <= inference_size <= 4096:
            raise CheckpointError(f"{source}: bad inference_size {inference_size!r}")
        model.inference_size = inference_size
    saturation = checkpoint.get("inference_saturation")
    if saturation is not None:
        number = isinstance(saturation, int | float) and not isinstance(saturation, bool)
        if not number or not 0.0 <= saturation <= 4.0:
            raise CheckpointError(f"{source}: bad inference_saturation {saturation!r}")
        model.inference_saturation = float(saturation)
    model.eval()
    return model


def load_model(
    name_or_path: str | Path | None = None,
    *,
    device: torch.device | str = "cpu",
    download: bool = True,
    progress: Callable[..., None] | None = None,
) -> ColorModel:
    """Load a colouriser by checkpoint path or published name (``None`` = the default model).

    ``progress`` is handed to the hub's download (see :func:`colorcli.hub.resolve_checkpoint`).

    Raises:
        CheckpointError, DownloadError: the checkpoint cannot be found, fetched or used.
    """
    from colorcli.hub import resolve_checkpoint

    path = resolve_checkpoint(name_or_path, download=download, progress=progress)
    model = model_from_checkpoint(read_checkpoint(path), source=str(path))
    return model.to(device)
