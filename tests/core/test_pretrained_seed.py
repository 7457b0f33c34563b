"""load_pretrained(seed=...) makes a new head's init a function of the seed alone."""

import torch

from bertkit.pretrained import load_pretrained


def _head(folder, seed):
    model, _, _ = load_pretrained(folder, "sequence-classification", labels=["a", "b"], seed=seed)
    return model.classifier.weight.detach().clone()


def test_same_seed_same_head_other_seed_other_head_and_caller_rng_untouched(tiny_folder):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = _head(tiny_folder, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's RNG stream is unchanged
    assert torch.equal(first, _head(tiny_folder, seed=7))
    assert not torch.equal(first, _head(tiny_folder, seed=8))
