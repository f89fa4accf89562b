"""A fresh model for a run: colour classes fitted on the training pixels, optional warm start."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from colorcli.checkpoint import load_model
from colorcli.data import palette_samples
from colorcli.errors import TrainingError
from colorcli.models import ClassificationHead, ColorModel, get_model
from colorcli.palette import encode_hard, fit_gamut, fit_kmeans_palette, rebalancing_weights
from colorcli.training import distributed
from colorcli.training.config import TrainConfig
from colorcli.training.distributed import DistributedContext

_PALETTE_KEYS = frozenset({"head.centres", "head.class_weights"})


def fit_colour_classes(
    dataset: Dataset[dict[str, Tensor]], config: TrainConfig
) -> tuple[Tensor, Tensor | None]:
    """ab centres ``(K, 2)`` and class weights ``(K,)`` (or None) from training pixels.

    ``colors`` K: k-means palette (weights only with ``rebalance``); ``gamut``: the
    occupied 10-unit ab bins with Zhang et al.'s rebalancing weights.

    Raises:
        TrainingError: too few distinct pixels to fit the classes.
    """
    samples = palette_samples(dataset, config.palette_pixels, seed=config.seed)
    weights: Tensor | None = None
    try:
        if config.colors == "gamut":
            centres, counts = fit_gamut(samples)
            weights = rebalancing_weights(counts, centres)
        else:
            if not isinstance(config.colors, int):
                raise TrainingError(f"cannot fit colour classes for colors={config.colors!r}")
            centres = fit_kmeans_palette(samples, config.colors, seed=config.seed)
            if config.rebalance:
                index = encode_hard(samples.T.reshape(1, 2, -1, 1), centres)
                counts = torch.bincount(index.flatten(), minlength=len(centres))
                weights = rebalancing_weights(counts, centres)
    except ValueError as error:
        raise TrainingError(f"cannot fit the colour classes: {error}") from None
    if len(centres) < 2:
        raise TrainingError(
            "cannot fit the colour classes: the training images hold fewer than 2 distinct "
            "ab bins; are they colour photographs?"
        )
    return centres, weights


def shared_colour_classes(
    dataset: Dataset[dict[str, Tensor]],
    config: TrainConfig,
    *,
    context: DistributedContext,
    device: torch.device,
) -> tuple[Tensor, Tensor | None]:
    """:func:`fit_colour_classes` on rank 0, broadcast to every rank (CPU tensors back)."""
    if not context.enabled:
        return fit_colour_classes(dataset, config)
    centres, weights = torch.zeros(0, 2), None
    if context.is_main:
        centres, weights = fit_colour_classes(dataset, config)
    header = torch.tensor([len(centres), int(weights is not None)], device=device)
    distributed.broadcast(header, context)
    count, has_weights = (int(value) for value in header.tolist())
    shared = centres.to(device) if context.is_main else torch.zeros(count, 2, device=device)
    distributed.broadcast(shared, context)
    shared_weights: Tensor | None = None
    if has_weights:
        shared_weights = torch.zeros(count, device=device)
        if weights is not None:
            shared_weights = weights.to(device)
        distributed.broadcast(shared_weights, context)
        shared_weights = shared_weights.cpu()
    return shared.cpu(), shared_weights


def copy_matching_weights(source: ColorModel, model: ColorModel, name: str) -> str:
    """Load every tensor of ``source`` whose name and shape fit ``model``; returns a note.

    Raises:
        TrainingError: another architecture, or nothing fits.
    """
    if source.arch != model.arch:
        raise TrainingError(
            f"--init-from {name} is a {source.arch!r} model, not {model.arch!r}; "
            f"use --arch {source.arch} (and its body options)"
        )
    target = model.state_dict()
    matched = {
        key: value
        for key, value in source.state_dict().items()
        if key in target and target[key].shape == value.shape and key not in _PALETTE_KEYS
    }
    if not matched:
        raise TrainingError(
            f"--init-from {name}: none of its weights fit this {model.arch!r} model; "
            "use the same body options"
        )
    target.update(matched)
    model.load_state_dict(target)
    left = len([key for key in target if key not in _PALETTE_KEYS]) - len(matched)
    note = f"initialised {len(matched)} tensors from {name}"
    return note + (
        f" ({left} left at their initial values: new in this model or of another shape)"
        if left > 0
        else ""
    )


def build_model(
    config: TrainConfig,
    dataset: Dataset[dict[str, Tensor]],
    *,
    context: DistributedContext,
    device: torch.device,
) -> tuple[ColorModel, list[str]]:
    """A new model as ``config`` says, with its colour classes in place; plus notes for people.

    Palette/gamut heads take their classes from ``--init-from`` when that checkpoint has
    the same head, else fit them on ``dataset`` (rank 0, broadcast).

    Raises:
        TrainingError, ModelError, CheckpointError, DownloadError: see the parts.
    """
    notes: list[str] = []
    source = None if config.init_from is None else load_model(config.init_from)
    kwargs = config.model_kwargs()
    palette: tuple[Tensor, Tensor | None] | None = None
    if config.colors is not None:
        if (
            source is not None
            and isinstance(source.head, ClassificationHead)
            and source.config.get("colors") == config.colors
        ):
            palette = (source.head.centres.clone(), source.head.class_weights.clone())
            notes.append(f"{len(palette[0])} colour classes taken from {config.init_from}")
        else:
            palette = shared_colour_classes(dataset, config, context=context, device=device)
            notes.append(
                f"fitted {len(palette[0])} colour classes on {config.palette_pixels:,} "
                "training pixels"
            )
        if config.colors == "gamut":
            kwargs["num_classes"] = len(palette[0])
    model = get_model(config.arch, **kwargs)
    if palette is not None:
        if not isinstance(model.head, ClassificationHead):
            raise TrainingError(f"--colors {config.colors} did not build a classification head")
        model.head.set_palette(*palette)
    if source is not None:
        assert config.init_from is not None
        notes.append(copy_matching_weights(source, model, config.init_from))
    if config.hints_only:
        apply_hints_only(model, config)
        notes.append("training the hint branch only; the rest stays as initialised")
    return model, notes


def apply_hints_only(model: ColorModel, config: TrainConfig) -> None:
    """``--hints-only``: freeze everything but the hint branch (new and resumed runs alike).

    Raises:
        TrainingError: the body has no hint branch.
    """
    freeze = getattr(model.body, "freeze_base", None)
    if freeze is None or not model.accepts_hints:
        raise TrainingError(f"--hints-only: the {config.arch!r} body has no hint branch")
    freeze()
    model.requires_grad_(False)
    model.body.hint_branch.requires_grad_(True)
