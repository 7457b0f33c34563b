"""Batched inference and sentence embeddings: order, batching, limits, precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertkit.embeddings import SentenceEncoder, cosine_similarity
from bertkit.errors import InputError
from bertkit.inference import autocast_context, length_sorted_batches, mean_pool, run_batched
from bertkit.pretrained import load_pretrained

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "hello",
    "paris",
    "",
    "new york city " * 9,
    "it was not very good",
    "a",
]


@pytest.fixture(scope="module")
def loaded(tiny_folder):
    model, tokenizer, report = load_pretrained(tiny_folder, "encoder")
    assert not model.training  # load_pretrained hands back an eval-mode model
    return model, tokenizer


def one_by_one(model, tokenizer, texts, pooling="mean"):
    rows = []
    for text in texts:
        batch = tokenizer(text, return_tensors="pt", truncation=True)
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        rows.append(hidden[0, 0] if pooling == "cls" else hidden[0].mean(0))
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_batched_embeddings_equal_one_text_at_a_time(loaded, pooling):
    model, tokenizer = loaded
    encoder = SentenceEncoder(model, tokenizer, pooling=pooling)
    batched = encoder.encode(TEXTS, batch_size=3)
    assert batched.shape == (len(TEXTS), 32) and batched.dtype == np.float32
    assert np.abs(batched - one_by_one(model, tokenizer, TEXTS, pooling)).max() < 1e-5


def test_results_come_back_in_input_order_with_length_sorted_batches(loaded):
    model, tokenizer = loaded
    seen_widths = []

    def reduce(output, batch):
        seen_widths.append(batch["input_ids"].shape[1])
        return batch["attention_mask"].sum(1).tolist()

    lengths = run_batched(model, tokenizer, TEXTS, reduce, batch_size=2)
    assert lengths == [len(tokenizer(text)["input_ids"]) for text in TEXTS]
    assert seen_widths == sorted(seen_widths, reverse=True)  # longest batches first
    assert list(length_sorted_batches([3, 9, 1, 5], 2)) == [[1, 3], [0, 2]]


def test_pairs_are_encoded_as_pairs(loaded):
    model, tokenizer = loaded
    segments = run_batched(
        model,
        tokenizer,
        ["hello", "fox"],
        lambda out, batch: batch["token_type_ids"].sum(1).tolist(),
        text_pairs=["world", "the dog"],
    )
    assert segments == [2, 3]  # "world [SEP]" and "the dog [SEP]" are segment 1


def test_long_texts_are_truncated_or_refused(loaded):
    model, tokenizer = loaded
    long_text = "fox " * 200
    encoder = SentenceEncoder(model, tokenizer)
    assert encoder.encode([long_text]).shape == (1, 32)
    with pytest.raises(InputError, match=r"text 2 has 202 tokens.*at most 64"):
        encoder.encode(["ok", long_text], truncate=False)
    short = encoder.encode([long_text], max_length=10)
    assert np.abs(short - one_by_one(model, tokenizer, ["fox " * 8])).max() < 1e-5


def test_bad_arguments(loaded):
    model, tokenizer = loaded
    with pytest.raises(InputError, match="batch_size"):
        SentenceEncoder(model, tokenizer).encode(["a"], batch_size=0)
    with pytest.raises(InputError, match="pooling"):
        SentenceEncoder(model, tokenizer, pooling="max")
    with pytest.raises(InputError, match="precision"):
        autocast_context(torch.device("cpu"), "fp8")
    assert SentenceEncoder(model, tokenizer).encode([]).shape == (0, 32)


def test_bf16_embeddings_are_close_to_fp32(loaded):
    model, tokenizer = loaded
    encoder = SentenceEncoder(model, tokenizer)
    full = encoder.encode(TEXTS, normalize=True)
    half = encoder.encode(TEXTS, normalize=True, precision="bf16")
    assert not np.array_equal(full, half)
    assert np.diag(cosine_similarity(full, half)).min() > 0.99


def test_mean_pool_ignores_padding_and_survives_empty_rows():
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 5.0], [7.0, 7.0], [9.0, 9.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    pooled = mean_pool(hidden, mask)
    assert torch.equal(pooled[0], torch.tensor([2.0, 3.0]))
    assert torch.isfinite(pooled[1]).all()
