"""bertkit against transformers.BertModel on the real all-MiniLM-L6-v2 weights (fp32, eval).

Compared on real tokens (attention_mask 1): padded positions are not part of any output a
user reads, and there fp32 rounding differs between any two attention implementations
(transformers' own eager and sdpa paths differ there by up to ~2e-4). The float64 test below
checks every position, padding included, to 1e-9.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bertkit.embeddings import SentenceEncoder
from bertkit.pretrained import load_pretrained

from .tokenization_cases import HAND_PICKED

transformers = pytest.importorskip("transformers")

TEXTS = [
    "A man is playing a guitar.",
    "The new movie is awesome!",
    "Paris is the capital of France and its largest city, with about two million people.",
    "ok",
    "",
    "Le café était très bon, merci beaucoup.",
    "我爱北京天安门 😀",
    "The quick brown fox jumps over the lazy dog. " * 20,
]
PAIRS = [
    ("How old are you?", "I am six years old."),
    (
        "What is BERT?",
        "A bidirectional Transformer encoder pretrained with masked language "
        "modelling on books and Wikipedia.",
    ),
    ("a", "b"),
    ("Where is it [MASK]?", "word " * 300),
]


@pytest.fixture(scope="module")
def models(minilm_folder):
    ours, tokenizer, report = load_pretrained(minilm_folder, "encoder")
    assert report.initialised_heads == [] and report.missing_encoder == []
    reference = transformers.BertModel.from_pretrained(minilm_folder, attn_implementation="eager")
    reference.eval()
    return ours, reference, tokenizer


def compare(ours, reference, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(max |difference| of last hidden states over real tokens, same for the pooled output)."""
    with torch.inference_mode():
        mine = ours(**batch)
        theirs = reference(**batch)
    real = batch["attention_mask"].bool()
    hidden_difference = (mine.last_hidden_state[real] - theirs.last_hidden_state[real]).abs().max()
    pooled_difference = (mine.pooler_output - theirs.pooler_output).abs().max()
    return float(hidden_difference), float(pooled_difference)


def test_mixed_length_batch_with_padding(models):
    ours, reference, tokenizer = models
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=512, return_tensors="pt")
    lengths = batch["attention_mask"].sum(1)
    assert lengths.min() == 2 and lengths.max() > 150  # really mixed
    hidden, pooled = compare(ours, reference, batch)
    assert hidden < 1e-5 and pooled < 1e-5


def test_sentence_pairs(models):
    ours, reference, tokenizer = models
    firsts, seconds = zip(*PAIRS, strict=True)
    batch = tokenizer(
        list(firsts),
        list(seconds),
        padding=True,
        truncation="only_second",
        max_length=512,
        return_tensors="pt",
    )
    assert batch["token_type_ids"].max() == 1
    hidden, pooled = compare(ours, reference, batch)
    assert hidden < 1e-5 and pooled < 1e-5


@pytest.mark.parametrize("length", [1, 2, 3, 64, 129, 512])
def test_lengths_from_1_to_512_tokens(models, length):
    ours, reference, tokenizer = models
    text = " ".join(HAND_PICKED)
    if length == 1:
        ids = torch.tensor([[tokenizer.cls_token_id]])
    else:
        ids = tokenizer(text, truncation=True, max_length=length, return_tensors="pt")["input_ids"]
    assert ids.shape == (1, length)
    # Two rows: the text, and the same text cut to half its length, padded to full length.
    half = max(1, length // 2)
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, half:] = 0
    batch = {
        "input_ids": ids.repeat(2, 1),
        "attention_mask": mask,
        "token_type_ids": torch.zeros(2, length, dtype=torch.long),
    }
    hidden, pooled = compare(ours, reference, batch)
    assert hidden < 1e-5 and pooled < 1e-5


def test_float64_matches_on_every_position_including_padding(models):
    ours, reference, tokenizer = models
    batch = tokenizer(TEXTS[:3], TEXTS[4:7], padding=True, return_tensors="pt")
    ours64 = copy.deepcopy(ours).double()
    reference64 = copy.deepcopy(reference).double()
    with torch.inference_mode():
        mine = ours64(**batch).last_hidden_state
        theirs = reference64(**batch).last_hidden_state
    assert (batch["attention_mask"] == 0).any()
    assert (mine - theirs).abs().max() < 1e-9


def test_mean_pooled_sentence_embeddings(models):
    ours, reference, tokenizer = models
    texts = TEXTS + [text for text in HAND_PICKED if text.strip()][:24]
    encoder = SentenceEncoder(ours, tokenizer)
    mine = encoder.encode(texts, batch_size=7, max_length=512)

    # The reference, batched differently (8 at a time in input order), with the
    # sentence-transformers pooling: the mean of the real tokens' vectors.
    theirs = []
    for start in range(0, len(texts), 8):
        batch = tokenizer(
            texts[start : start + 8],
            padding=True,
            truncation=True,
            max_length=512,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = reference(**batch).last_hidden_state
        weights = batch["attention_mask"].unsqueeze(-1).float()
        theirs.append(((hidden * weights).sum(1) / weights.sum(1)).numpy())
    theirs = np.concatenate(theirs)

    cosine = (mine * theirs).sum(1) / (
        np.linalg.norm(mine, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    assert mine.shape == (len(texts), 384)
    assert cosine.min() >= 0.99999
    assert np.abs(mine - theirs).max() < 1e-5
