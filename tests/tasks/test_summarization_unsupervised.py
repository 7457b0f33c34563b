"""Unsupervised extractive summaries: centrality, MMR, lengths, order and long inputs."""

import numpy as np
import pytest
import torch

from bertkit.embeddings import SentenceEncoder
from bertkit.errors import InputError
from bertkit.tasks.summarization import Summarizer
from bertkit.tasks.summarization.selection import candidate_sentences, summary_length
from bertkit.tasks.summarization.sentences import split_sentences
from bertkit.tasks.summarization.unsupervised import (
    CentralitySummarizer,
    centroid_centrality,
    mmr_select,
    textrank_centrality,
)

DOCUMENT = (
    "The quick brown fox jumps over the lazy dog in the city. "
    "A lazy dog was not very good at running in the city. "
    "Paris and London are a new play of the world. "
    "The quick brown fox jumps over the lazy dog in the city. "
    "Hello world, the bert model is a good token model. "
    "It was a bad movie and not a good one. "
    "New York city is a city of the world."
)


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def summarizer(tiny_folder):
    torch.set_num_threads(1)
    return Summarizer.from_pretrained(tiny_folder)


def test_centroid_centrality_prefers_the_sentence_nearest_the_mean():
    embeddings = unit([[1, 0], [0.9, 0.1], [0.8, 0.2], [-0.2, 1]])
    scores = centroid_centrality(embeddings)
    assert int(np.argmax(scores)) in (1, 2)
    assert int(np.argmin(scores)) == 3


def test_textrank_blocks_match_one_block_and_rank_the_hub_first():
    rng = np.random.default_rng(0)
    embeddings = unit(rng.normal(size=(40, 8)))
    embeddings[0] = unit([embeddings[1:].mean(axis=0)])[0]  # similar to everything
    whole = textrank_centrality(embeddings, block_size=1000)
    blocked = textrank_centrality(embeddings, block_size=7)
    np.testing.assert_allclose(whole, blocked, rtol=1e-5, atol=1e-7)
    assert int(np.argmax(whole)) == 0
    assert whole.sum() == pytest.approx(1.0, abs=1e-5)


def test_mmr_skips_a_near_duplicate_of_a_chosen_sentence():
    embeddings = unit([[1, 0, 0], [0.999, 0.01, 0], [0.6, 0.8, 0], [0, 0, 1]])
    relevance = np.array([1.0, 0.99, 0.9, 0.1], dtype=np.float32)
    assert mmr_select(embeddings, relevance, 2, diversity=0.0) == [0, 1]
    assert mmr_select(embeddings, relevance, 2, diversity=0.5) == [0, 2]
    with pytest.raises(InputError, match="diversity"):
        mmr_select(embeddings, relevance, 2, diversity=1.5)


def test_summary_length_from_count_or_ratio():
    assert summary_length(10) == 3
    assert summary_length(10, num_sentences=4) == 4
    assert summary_length(2, num_sentences=5) == 2
    assert summary_length(10, ratio=0.25) == 3
    assert summary_length(10, ratio=0.01) == 1
    for bad in (
        {"num_sentences": 0},
        {"ratio": 0.0},
        {"ratio": 1.5},
        {"num_sentences": 2, "ratio": 0.5},
    ):
        with pytest.raises(InputError):
            summary_length(10, **bad)


def test_candidates_drop_headings_short_sentences_and_repeats():
    sentences = split_sentences("Title here\n\nSee below. " + DOCUMENT)
    candidates = candidate_sentences(sentences)
    texts = [c.text for c in candidates]
    assert "Title here" not in texts and "See below." not in texts
    assert len(texts) == len(set(texts)) == 6  # the repeated fox sentence is kept once


def test_summaries_are_distinct_document_sentences_in_order(summarizer):
    for kwargs in ({"num_sentences": 3}, {"ratio": 0.5}, {"num_sentences": 50}):
        summary = summarizer.summarize(DOCUMENT, **kwargs)
        indices = [s.index for s in summary.sentences]
        assert indices == sorted(indices) and len(set(indices)) == len(indices)
        assert len({s.text for s in summary.sentences}) == len(indices)
        for sentence in summary.sentences:
            assert " ".join(DOCUMENT[sentence.start : sentence.end].split()) == sentence.text
    assert len(summarizer.summarize(DOCUMENT, num_sentences=3).sentences) == 3
    assert len(summarizer.summarize(DOCUMENT, ratio=0.5).sentences) == 3  # ceil(0.5 * 6)
    assert len(summarizer.summarize(DOCUMENT, num_sentences=50).sentences) == 6


def test_centrality_ranks_by_the_encoder_not_by_position(tiny_folder):
    """With embeddings where the last sentence is the centroid, it must be chosen."""

    class FixedEncoder:
        dimension = 3

        def encode(self, texts, **_):
            rows = [[1, 0, 0], [0, 1, 0], [0, 0, 1]][: len(texts) - 1] + [[1, 1, 1]]
            return unit(rows)

    text = "Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu. Nu xi omicron pi."
    summary = CentralitySummarizer(FixedEncoder()).summarize(text, num_sentences=1)
    assert [s.index for s in summary.sentences] == [3]


def test_empty_markup_only_and_single_sentence_documents(summarizer):
    with pytest.raises(InputError, match="empty"):
        summarizer.summarize("   \n")
    with pytest.raises(InputError, match="no sentences"):
        summarizer.summarize("=====\n\n.. code-block:: python\n\n   x = 1\n")
    summary = summarizer.summarize("Just one sentence here.", num_sentences=3)
    assert [s.text for s in summary.sentences] == ["Just one sentence here."]
    assert summary.notes
    with pytest.raises(InputError, match="not a fine-tuned summarizer|plain encoder"):
        summarizer.summarize(DOCUMENT, method="supervised")


def test_a_20000_word_document_is_embedded_in_chunks(tiny_folder):
    """A long input works, in chunks: the encoder never sees more than chunk_sentences."""
    sentences = [
        f"Sentence number {i} talks about the {['fox', 'dog', 'city', 'model'][i % 4]} "
        f"and the world of item {i % 97} today."
        for i in range(1500)
    ]
    text = " ".join(sentences)
    assert len(text.split()) > 20000
    encoder = SentenceEncoder.from_pretrained(tiny_folder)
    calls = []
    original = encoder.encode

    def counting_encode(texts, **kwargs):
        calls.append(len(texts))
        return original(texts, **kwargs)

    encoder.encode = counting_encode
    summarizer = CentralitySummarizer(encoder, chunk_sentences=512, batch_size=64)
    summary = summarizer.summarize(text, num_sentences=5)
    assert max(calls) <= 512 and sum(calls) == 1500
    indices = [s.index for s in summary.sentences]
    assert len(indices) == 5 and indices == sorted(indices) and len(set(indices)) == 5
