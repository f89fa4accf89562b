"""Random ab pixels from a data set, the input of k-means palette fitting."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.data import Dataset


def palette_samples(
    dataset: Dataset[dict[str, Tensor]],
    n_pixels: int,
    seed: int = 0,
    *,
    max_images: int = 500,
) -> Tensor:
    """Gather ab pixels from a seeded random subset of a data set's items.

    Takes ``min(len(dataset), max_images)`` items chosen at random and, from each, the
    same number of random pixels (without replacement within an item), so that about
    ``n_pixels`` pixels come back in all.

    Args:
        dataset: items are dicts with ``ab`` ``(2, S, S)`` (any :class:`ColorDataset`).
        n_pixels: how many pixels to return (fewer only if the images are too small).
        seed: seeds the choice of items and pixels.
        max_images: upper bound on the number of items read.

    Returns:
        float32 tensor ``(M, 2)`` of (a, b) in Lab units, ``M = min(n_pixels, pixels read)``.

    Raises:
        ValueError: ``n_pixels`` or ``max_images`` < 1, or an empty data set.
    """
    if n_pixels < 1 or max_images < 1:
        raise ValueError(f"n_pixels and max_images must be >= 1, got {n_pixels}, {max_images}")
    count = len(dataset)  # type: ignore[arg-type]
    if count == 0:
        raise ValueError("cannot sample pixels from an empty data set")
    generator = torch.Generator().manual_seed(seed)
    items = torch.randperm(count, generator=generator)[: min(count, max_images)]
    per_item = math.ceil(n_pixels / len(items))
    chunks: list[Tensor] = []
    for index in items.tolist():
        ab = dataset[index]["ab"].reshape(2, -1)
        chosen = torch.randperm(ab.shape[1], generator=generator)[:per_item]
        chunks.append(ab[:, chosen].T.float())
    return torch.cat(chunks)[:n_pixels].contiguous()
