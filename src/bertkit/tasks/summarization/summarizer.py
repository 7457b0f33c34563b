"""The Python API: `Summarizer.from_pretrained("minilm").summarize(text, num_sentences=3)`.

One object serves every method: "centrality" (unsupervised, any BERT encoder), "supervised"
(a model fine-tuned with `bertkit finetune summarize`) and "lead" (the first sentences, the
classic baseline). The default is "supervised" for a fine-tuned summarizer, else "centrality".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np
import torch

from bertkit.checkpoint import load_config
from bertkit.embeddings import SentenceEncoder
from bertkit.errors import InputError
from bertkit.hub import resolve_model
from bertkit.pretrained import load_pretrained
from bertkit.tasks.summarization.selection import (
    DEFAULT_MIN_WORDS,
    Summary,
    candidate_sentences,
    choose,
    document_sentences,
    lead_summary,
    summary_length,
    trigram_blocking_order,
)
from bertkit.tasks.summarization.supervised import (
    TASK_NAME,
    BertForExtractiveSummarization,
    PackingSettings,
    load_summarizer,
    score_sentences,
)
from bertkit.tasks.summarization.unsupervised import CentralitySummarizer
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

METHODS = ("centrality", "supervised", "lead")


def supervised_summary(
    model: BertForExtractiveSummarization,
    tokenizer: Tokenizer,
    settings: PackingSettings,
    text: str,
    num_sentences: int | None = None,
    ratio: float | None = None,
    *,
    block_trigrams: bool = True,
    batch_size: int = 16,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """The sentences the fine-tuned scorer rates highest, in document order."""
    sentences = document_sentences(text)
    candidates = candidate_sentences(sentences, settings.min_words)
    count = summary_length(len(candidates), num_sentences, ratio)
    scores = score_sentences(
        model,
        tokenizer,
        [sentence.text for sentence in candidates],
        settings,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
    )
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    picked = trigram_blocking_order(candidates, order, count) if block_trigrams else order[:count]
    return choose(sentences, candidates, picked, scores, "supervised", count)


class Summarizer:
    """Extractive summaries from one model folder or model name."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        supervised: tuple[BertForExtractiveSummarization, PackingSettings] | None = None,
        *,
        diversity: float = 0.5,
        centrality: str = "centroid",
        min_words: int = DEFAULT_MIN_WORDS,
        batch_size: int = 32,
        precision: str = "fp32",
    ):
        self.encoder = encoder
        self.supervised = supervised
        self.batch_size = batch_size
        self.precision = precision
        self.min_words = supervised[1].min_words if supervised else min_words
        self.centrality = CentralitySummarizer(
            encoder,
            centrality=centrality,
            diversity=diversity,
            min_words=self.min_words,
            batch_size=batch_size,
            precision=precision,
        )

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, *, device: str | None = None, **options
    ) -> Summarizer:
        """A plain encoder (e.g. "minilm") gives centrality and lead; a folder written by
        `bertkit finetune summarize` adds the supervised scorer."""
        folder = resolve_model(name_or_path)
        if load_config(folder).extra.get("bertkit_task") == TASK_NAME:
            model, tokenizer, settings = load_summarizer(folder)
            supervised = (model, settings)
        else:
            model, tokenizer, _ = load_pretrained(folder, "encoder")
            supervised = None
        if device is not None:
            model.to(torch.device(device))
        # The fine-tuned model returns hidden states when called without sentence positions,
        # so it doubles as the sentence encoder for the centrality method.
        return cls(SentenceEncoder(model, tokenizer), supervised, **options)

    @property
    def tokenizer(self) -> Tokenizer:
        return self.encoder.tokenizer

    @property
    def default_method(self) -> str:
        return "supervised" if self.supervised is not None else "centrality"

    def summarize(
        self,
        text: str,
        num_sentences: int | None = None,
        *,
        ratio: float | None = None,
        method: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Summary:
        """Summary of `text`: `num_sentences` sentences (default 3) or `ratio` of them."""
        method = method or self.default_method
        if method == "lead":
            return lead_summary(text, num_sentences, ratio, self.min_words)
        if method == "centrality":
            return self.centrality.summarize(text, num_sentences, ratio, progress)
        if method == "supervised":
            if self.supervised is None:
                raise InputError(
                    "this model is a plain encoder, not a fine-tuned summarizer: use method "
                    "'centrality' or 'lead', or fine-tune it with `bertkit finetune summarize`"
                )
            model, settings = self.supervised
            return supervised_summary(
                model,
                self.tokenizer,
                settings,
                text,
                num_sentences,
                ratio,
                batch_size=max(1, self.batch_size // 2),
                precision=self.precision,
                progress=progress,
            )
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


__all__ = ["METHODS", "Summarizer", "Summary", "supervised_summary"]
