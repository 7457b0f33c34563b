"""Seeded, rank-sharded data order and the example_seed collation contract."""

import pytest
import torch

from bertkit.errors import InputError
from bertkit.training import example_seed
from bertkit.training.data_order import EpochPlan, make_loader


def test_ranks_split_each_global_batch_of_the_single_process_order():
    single = EpochPlan(23, 6, seed=1).rank_batches(epoch=2)
    ranks = [EpochPlan(23, 3, seed=1, rank=r, world_size=2).rank_batches(2) for r in (0, 1)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 4  # 3 full + ragged tail of 5
    for number, batch in enumerate(single):
        assert sorted(ranks[0][number] + ranks[1][number]) == sorted(batch)
        assert not set(ranks[0][number]) & set(ranks[1][number])


def test_order_is_seeded_and_changes_with_epoch_and_seed():
    plan = EpochPlan(50, 5, seed=3)
    assert plan.global_order(0) == EpochPlan(50, 5, seed=3).global_order(0)
    assert plan.global_order(0) != plan.global_order(1)
    assert plan.global_order(0) != EpochPlan(50, 5, seed=4).global_order(0)
    assert sorted(plan.global_order(1)) == list(range(50))


def test_ragged_tail_dropped_when_asked_or_when_a_rank_would_get_nothing():
    assert EpochPlan(10, 4, seed=0, drop_last=True).num_micro_batches == 2
    assert EpochPlan(10, 4, seed=0).num_micro_batches == 3
    assert EpochPlan(9, 2, seed=0, world_size=4).num_micro_batches == 1  # tail of 1 < 4 ranks
    with pytest.raises(InputError, match="fewer than one global batch"):
        EpochPlan(3, 4, seed=0, world_size=4)


def test_example_seed_is_a_pure_function_of_seed_epoch_index():
    assert example_seed(1, 2, 3) == example_seed(1, 2, 3)
    seeds = {example_seed(1, e, i) for e in range(3) for i in range(100)}
    assert len(seeds) == 300
    assert all(0 <= s < 2**63 for s in seeds)
    assert example_seed(2, 0, 0) != example_seed(1, 0, 0)


def test_loader_attaches_example_seeds_and_reads_only_the_given_batches():
    dataset = [{"x": torch.tensor(i)} for i in range(12)]
    seen = []

    def collate(examples):
        seen.extend((int(e["x"]), e["example_seed"]) for e in examples)
        return {"x": torch.stack([e["x"] for e in examples])}

    batches = EpochPlan(12, 4, seed=5).rank_batches(1)
    loader = make_loader(dataset, batches[1:], seed=5, epoch=1, collate_fn=collate)
    out = [b["x"].tolist() for b in loader]
    assert out == batches[1:]
    assert seen == [(i, example_seed(5, 1, i)) for batch in batches[1:] for i in batch]


def test_loader_rejects_non_dict_examples():
    loader = make_loader([1, 2], [[0, 1]], seed=0, epoch=0, collate_fn=list)
    with pytest.raises(InputError, match="dicts"):
        next(iter(loader))


def test_creating_a_loader_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    list(make_loader([{"x": 1}] * 4, [[0, 1], [2, 3]], seed=0, epoch=0, collate_fn=list))
    assert torch.equal(before, torch.get_rng_state())


def test_length_grouping_keeps_similar_lengths_together_and_is_seeded():
    lengths = [(index * 37) % 101 + 1 for index in range(1000)]
    plan = EpochPlan(1000, 10, seed=3, lengths=lengths)
    batches = plan.rank_batches(0)
    assert sorted(index for batch in batches for index in batch) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    ungrouped = EpochPlan(1000, 10, seed=3).rank_batches(0)
    ungrouped_spread = sum(
        max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in ungrouped
    )
    assert spread * 5 < ungrouped_spread
    assert plan.rank_batches(0) == EpochPlan(1000, 10, seed=3, lengths=lengths).rank_batches(0)
    assert plan.rank_batches(1) != batches


def test_length_grouping_shards_the_same_global_batches_across_ranks():
    lengths = [index % 17 for index in range(64)]
    single = EpochPlan(64, 8, seed=1, lengths=lengths).rank_batches(2)
    ranks = [
        EpochPlan(64, 4, seed=1, rank=r, world_size=2, lengths=lengths).rank_batches(2)
        for r in range(2)
    ]
    for number, batch in enumerate(single):
        assert sorted(batch) == sorted(ranks[0][number] + ranks[1][number])
