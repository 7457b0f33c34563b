"""Extractive summarization without training data: central sentences, minus redundancy.

Each candidate sentence is embedded on its own (mean-pooled BERT, L2-normalised) in batches of
`chunk_sentences`, so a document of any length costs memory linear in its number of sentences
(N x hidden floats) and never needs the whole document in one forward pass. Two centrality
scores:

- "centroid": cosine to the mean sentence vector. For unit vectors this is proportional to a
  sentence's mean similarity to all others (degree centrality), in O(N * hidden).
- "textrank": PageRank over the graph of positive cosine similarities (LexRank-style
  continuous weights), with the N x N similarity matrix computed in row blocks at each power
  iteration, so memory stays O(block * N) however long the document.

Sentences are then picked by Maximal Marginal Relevance: repeatedly the candidate maximising
`(1 - diversity) * relevance - diversity * max similarity to the sentences already chosen`,
which keeps two near-identical central sentences out of the same summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from bertkit.embeddings import SentenceEncoder
from bertkit.errors import InputError
from bertkit.tasks.summarization.selection import (
    DEFAULT_MIN_WORDS,
    Summary,
    candidate_sentences,
    choose,
    document_sentences,
    summary_length,
)

logger = logging.getLogger(__name__)

CENTRALITY_METHODS = ("centroid", "textrank")


def centroid_centrality(embeddings: np.ndarray) -> np.ndarray:
    """Cosine of each unit row of (N, H) `embeddings` to their mean: (N,)."""
    centroid = embeddings.mean(axis=0)
    norm = np.linalg.norm(centroid)
    if norm < 1e-12:
        return np.zeros(len(embeddings), dtype=np.float32)
    return (embeddings @ (centroid / norm)).astype(np.float32)


def textrank_centrality(
    embeddings: np.ndarray,
    damping: float = 0.85,
    iterations: int = 50,
    tolerance: float = 1e-6,
    block_size: int = 1024,
) -> np.ndarray:
    """PageRank scores (N,) over positive cosine similarities of unit rows, self-loops removed.

    The similarity matrix is never materialised: each power iteration recomputes it in blocks
    of `block_size` rows.
    """
    count = len(embeddings)
    if count == 1:
        return np.ones(1, dtype=np.float32)

    def similarity_block(start: int) -> np.ndarray:
        block = embeddings[start : start + block_size] @ embeddings.T  # (b, N)
        np.clip(block, 0.0, None, out=block)
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = 0.0  # no self-loops
        return block

    # Out-degree (row sums) normalises each node's outgoing weight; the matrix is symmetric.
    degree = np.concatenate(
        [similarity_block(start).sum(axis=1) for start in range(0, count, block_size)]
    )
    degree[degree < 1e-12] = 1.0
    rank = np.full(count, 1.0 / count, dtype=np.float64)
    for _ in range(iterations):
        spread = rank / degree  # (N,)
        incoming = np.concatenate(
            [similarity_block(start) @ spread for start in range(0, count, block_size)]
        )
        updated = (1.0 - damping) / count + damping * incoming
        updated /= updated.sum()
        converged = np.abs(updated - rank).sum() < tolerance
        rank = updated
        if converged:
            break
    return rank.astype(np.float32)


def mmr_select(
    embeddings: np.ndarray, relevance: np.ndarray, count: int, diversity: float = 0.5
) -> list[int]:
    """Indices of `count` rows chosen greedily by Maximal Marginal Relevance, best first.

    `embeddings` (N, H) are unit rows; `relevance` (N,) is rescaled to [0, 1] first, so
    `diversity` in [0, 1] means the same whatever the centrality measure's scale.
    """
    if not 0.0 <= diversity <= 1.0:
        raise InputError(f"diversity must be in [0, 1], got {diversity}")
    span = float(relevance.max() - relevance.min())
    relevance = (relevance - relevance.min()) / span if span > 1e-12 else np.ones_like(relevance)
    redundancy = np.full(len(relevance), -np.inf, dtype=np.float32)  # max sim to chosen
    chosen: list[int] = []
    available = np.ones(len(relevance), dtype=bool)
    for _ in range(min(count, len(relevance))):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        value = (1.0 - diversity) * relevance - diversity * penalty
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, embeddings @ embeddings[best])
    return chosen


class CentralitySummarizer:
    """Unsupervised extractive summarizer over a SentenceEncoder."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        *,
        centrality: str = "centroid",
        diversity: float = 0.5,
        min_words: int = DEFAULT_MIN_WORDS,
        max_sentence_tokens: int = 128,
        batch_size: int = 32,
        chunk_sentences: int = 2048,
        precision: str = "fp32",
    ):
        if centrality not in CENTRALITY_METHODS:
            raise InputError(
                f"centrality must be one of {', '.join(CENTRALITY_METHODS)}, got {centrality!r}"
            )
        if not 0.0 <= diversity <= 1.0:
            raise InputError(f"diversity must be in [0, 1], got {diversity}")
        self.encoder = encoder
        self.centrality = centrality
        self.diversity = diversity
        self.min_words = min_words
        self.max_sentence_tokens = max_sentence_tokens
        self.batch_size = batch_size
        self.chunk_sentences = chunk_sentences
        self.precision = precision

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit sentence vectors (N, H), computed `chunk_sentences` at a time; each sentence is
        truncated to `max_sentence_tokens` tokens."""
        parts = []
        for start in range(0, len(texts), self.chunk_sentences):
            parts.append(
                self.encoder.encode(
                    list(texts[start : start + self.chunk_sentences]),
                    batch_size=self.batch_size,
                    max_length=self.max_sentence_tokens,
                    truncate=True,
                    normalize=True,
                    precision=self.precision,
                    progress=progress,
                )
            )
        if not parts:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        if self.centrality == "textrank":
            return textrank_centrality(embeddings)
        return centroid_centrality(embeddings)

    def summarize(
        self,
        text: str,
        num_sentences: int | None = None,
        ratio: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Summary:
        """The most central, mutually distinct sentences of `text`, in document order."""
        sentences = document_sentences(text)
        candidates = candidate_sentences(sentences, self.min_words)
        count = summary_length(len(candidates), num_sentences, ratio)
        embeddings = self.embed([sentence.text for sentence in candidates], progress)
        relevance = self.scores(embeddings)
        picked = mmr_select(embeddings, relevance, count, self.diversity)
        logger.debug("picked %d of %d candidate sentences", len(picked), len(candidates))
        return choose(sentences, candidates, picked, relevance, "centrality", count)
