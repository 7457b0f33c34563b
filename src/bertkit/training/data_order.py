"""The order in which training examples are seen, and the per-example seeds for collation.

Order. Each epoch draws one seeded permutation of the whole map-style dataset (the same on every
rank). The permutation is cut into global micro-batches of `batch_size * world_size` positions;
rank r takes positions r, r + world_size, r + 2 * world_size, ... of each one. A run on N ranks
with per-device batch B/N therefore sees, micro-batch by micro-batch, exactly the examples that a
1-process run with batch B sees. Resuming needs only (epoch, micro-batch position): the batches
before it are skipped by index, without reading any data.

Length grouping (optional, given each example's length). The permutation is cut into windows of
`LENGTH_GROUP_WINDOW` global batches; each window is sorted by length, longest first, and cut
into global batches, whose order is then shuffled with the epoch's seed. Batches hold examples
of similar length, so dynamic padding wastes little, while which examples meet in a batch still
changes every epoch. The plan stays a pure function of (seed, epoch), as resume needs.

Example seeds (the randomised-collation contract). Before `collate_fn(examples)` runs, every
example dict gets the key "example_seed": an int in [0, 2**63) that is a pure function of
(config.seed, epoch, dataset index), computed by `example_seed`. A collate function that
randomises (MLM dynamic masking, for instance) seeds one `torch.Generator` per example from it
instead of drawing from the global RNG. Masking is then identical after a resume and between a
1-process and an N-process run, and does not depend on DataLoader workers. Collate functions
that do not randomise should drop the key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from bertkit.errors import InputError

logger = logging.getLogger(__name__)

EXAMPLE_SEED_KEY = "example_seed"
LENGTH_GROUP_WINDOW = 50  # global batches sorted together when grouping by length


def example_seed(seed: int, epoch: int, index: int) -> int:
    """The collation seed of dataset item `index` in `epoch`: stable across runs and machines."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def epoch_permutation_seed(seed: int, epoch: int) -> int:
    """Seed of the generator that shuffles `epoch`; differs from every example seed stream."""
    return example_seed(seed, epoch, -1)


def default_collate_fn(examples: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack same-shaped fields into batch tensors, dropping the example seeds."""
    return default_collate(
        [{key: value for key, value in ex.items() if key != EXAMPLE_SEED_KEY} for ex in examples]
    )


class EpochPlan:
    """Which dataset indices each rank reads in each micro-batch of an epoch."""

    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        lengths: Sequence[int] | None = None,
    ):
        if lengths is not None and len(lengths) != dataset_size:
            raise ValueError(f"got {len(lengths)} lengths for {dataset_size} examples")
        self.lengths = lengths
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.global_batch_size = batch_size * world_size
        full, remainder = divmod(dataset_size, self.global_batch_size)
        # A ragged last batch is kept only when every rank gets at least one example of it.
        keep_tail = remainder >= world_size and not drop_last
        self.num_micro_batches = full + int(keep_tail)
        if self.num_micro_batches == 0:
            raise InputError(
                f"the training set has {dataset_size} examples, fewer than one global batch of "
                f"{self.global_batch_size} (batch size x processes); lower the batch size"
            )
        if remainder and not keep_tail:
            logger.debug("dropping %d examples at the end of every epoch", remainder)

    def global_order(self, epoch: int) -> list[int]:
        """The shuffled dataset indices of `epoch`, identical on all ranks."""
        generator = torch.Generator().manual_seed(epoch_permutation_seed(self.seed, epoch))
        return torch.randperm(self.dataset_size, generator=generator).tolist()

    def rank_batches(self, epoch: int) -> list[list[int]]:
        """This rank's micro-batches of `epoch`, as lists of dataset indices."""
        global_batches = self._global_batches(epoch)
        return [batch[self.rank :: self.world_size] for batch in global_batches]

    def _global_batches(self, epoch: int) -> list[list[int]]:
        order = self.global_order(epoch)
        size = self.global_batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        batches = batches[: self.num_micro_batches]
        if self.lengths is None:
            return batches
        lengths = self.lengths
        window = size * LENGTH_GROUP_WINDOW
        grouped = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda index: -lengths[index])
            grouped.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        full = [batch for batch in grouped if len(batch) == size]
        tail = [batch for batch in grouped if len(batch) < size]
        generator = torch.Generator().manual_seed(example_seed(self.seed, epoch, -2))
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
        return (shuffled + tail)[: self.num_micro_batches]


class SeededExamples(Dataset):
    """A view of `dataset` whose items are dicts carrying their "example_seed" for one epoch."""

    def __init__(self, dataset: Dataset, seed: int, epoch: int):
        self.dataset = dataset
        self.seed = seed
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = self.dataset[index]
        if not isinstance(example, Mapping):
            raise InputError(
                f"training examples must be dicts of fields, got {type(example).__name__} "
                f"at index {index}"
            )
        example = dict(example)
        example[EXAMPLE_SEED_KEY] = example_seed(self.seed, self.epoch, index)
        return example


def make_loader(
    dataset: Dataset,
    batches: Sequence[list[int]],
    *,
    seed: int,
    epoch: int,
    collate_fn: Callable[[list[dict[str, Any]]], Any],
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over exactly `batches` (already sliced for resume) of one epoch.

    The loader gets its own seeded generator so that creating it never draws from the global
    torch RNG, which dropout uses and which a resume must find exactly as it was saved.
    """
    generator = torch.Generator().manual_seed(epoch_permutation_seed(seed, epoch))
    return DataLoader(
        SeededExamples(dataset, seed, epoch),
        batch_sampler=list(batches),
        collate_fn=collate_fn,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=generator,
    )
