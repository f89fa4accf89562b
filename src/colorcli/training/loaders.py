"""Data for the training loop: a resumable epoch-seeded sampler, loaders and cached val batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from colorcli.training.config import TrainConfig
from colorcli.training.distributed import DistributedContext
from colorcli.training.seeding import loader_generator, seed_worker


class EpochSampler(Sampler[int]):
    """Shuffles with a permutation seeded by ``(seed, epoch)``, sharded over ranks, skippable.

    Like :class:`torch.utils.data.DistributedSampler`: the permutation is padded (by
    repeating its start) to a multiple of ``world_size`` and rank ``r`` takes every
    ``world_size``-th index from ``r``. Because the order depends only on the seed and
    the epoch, a resumed run sees the same order; :meth:`set_epoch` with ``skip`` drops
    the samples an interrupted epoch already used, so training resumes mid-epoch exactly.

    Args:
        length: number of items in the data set.
        seed: shuffling seed.
        context: rank and world size.
        shuffle: False keeps the data set order (still sharded).
    """

    def __init__(
        self, length: int, *, seed: int, context: DistributedContext, shuffle: bool = True
    ) -> None:
        self.length = length
        self.seed = seed
        self.context = context
        self.shuffle = shuffle
        self.epoch = 0
        self.skip = 0

    @property
    def per_rank(self) -> int:
        """Items each rank sees in a full epoch."""
        return -(-self.length // self.context.world_size)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select ``epoch``'s order and skip its first ``skip`` items on this rank."""
        self.epoch = epoch
        self.skip = skip

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch, before skipping."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        total = self.per_rank * self.context.world_size
        order += order[: total - len(order)]
        return order[self.context.rank : total : self.context.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.skip :])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.skip)


def steps_per_epoch(sampler: EpochSampler, batch_size: int) -> int:
    """Optimizer steps in a full epoch (a last partial batch is dropped if a full one exists)."""
    if sampler.per_rank >= batch_size:
        return sampler.per_rank // batch_size
    return 1


def train_loader(
    dataset: Dataset[dict[str, Tensor]],
    sampler: EpochSampler,
    config: TrainConfig,
    *,
    epoch: int,
    pin_memory: bool = False,
) -> DataLoader[dict[str, Tensor]]:
    """A DataLoader over ``sampler``'s current epoch (create one per epoch; cheap), with
    ``config``'s batch size, loader workers and seed.

    Worker seeds come from a generator seeded by (seed, epoch), not from the global RNG,
    so creating the loader does not disturb the model's random stream.
    """
    batch_size, workers = config.batch_size, config.workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=sampler.per_rank >= batch_size,
        pin_memory=pin_memory,
        worker_init_fn=seed_worker if workers else None,
        generator=loader_generator(config.seed, epoch),
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )


def load_val_batches(
    dataset: Dataset[dict[str, Tensor]],
    *,
    limit: int,
    batch_size: int,
    workers: int,
    context: DistributedContext,
    seed: int,
) -> list[dict[str, Tensor]]:
    """Read the first ``limit`` val items once (this rank's share) and keep them in memory.

    Val items are not augmented, so caching them keeps per-epoch validation cheap.

    Raises:
        DataError: an item and the next ones after it could not be read.
    """
    count = min(len(dataset), limit)  # type: ignore[arg-type]
    if count == 0:
        return []
    indices = list(range(context.rank, count, context.world_size))
    if not indices:
        return []
    loader = DataLoader(
        torch.utils.data.Subset(dataset, indices),
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(workers, max(0, len(indices) // batch_size)),
        worker_init_fn=seed_worker if workers else None,
        generator=loader_generator(seed, -1),
    )
    return [
        {key: value for key, value in batch.items() if key in ("lightness", "ab", "rgb")}
        for batch in loader
    ]
