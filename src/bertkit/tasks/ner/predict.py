"""Entity recognition on raw text with a fine-tuned model: the `EntityTagger` Python API.

    tagger = EntityTagger.from_pretrained("runs/ner/model")
    tagger.predict(["Alice moved to Paris."])
    # [[Entity(type='person', text='Alice', start=0, end=5, score=0.98), ...]]

Raw text is split into words the way BERT's basic tokenizer splits it (whitespace separates
words; every punctuation mark and every CJK character is a word of its own), keeping each
word's character span, so `text[entity.start:entity.end] == entity.text` always holds.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bertkit.checkpoint import load_config
from bertkit.errors import InputError
from bertkit.hub import resolve_model
from bertkit.model.heads import BertForTokenClassification
from bertkit.pretrained import load_pretrained
from bertkit.tasks.ner.alignment import DEFAULT_OVERLAP
from bertkit.tasks.ner.data import Sentence, read_ner_file
from bertkit.tasks.ner.metrics import NerReport, extract_spans
from bertkit.tasks.ner.tagging import evaluate_sentences, model_labels, tag_words
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

TASK_NAME = "ner"
SETTINGS_KEY = "bertkit_ner"  # config.json key holding max_length/scheme used in training


@dataclass
class Entity:
    """A recognised entity: its type, its text and its character span [start, end)."""

    type: str
    text: str
    start: int
    end: int
    score: float  # mean probability of the predicted tags of its words

    def to_dict(self) -> dict:
        return asdict(self)


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # BERT treats every non-alphanumeric printable ASCII character as punctuation.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def split_words(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of the words of `text` (BERT's basic word splitting)."""
    spans: list[tuple[int, int]] = []
    start = None
    for position, char in enumerate(text):
        if char.isspace():
            if start is not None:
                spans.append((start, position))
                start = None
        elif _is_punctuation(char) or _is_cjk(char):
            if start is not None:
                spans.append((start, position))
                start = None
            spans.append((position, position + 1))
        elif start is None:
            start = position
    if start is not None:
        spans.append((start, len(text)))
    return spans


def join_tokens(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Pre-split tokens joined by single spaces, with each token's character span."""
    spans, position = [], 0
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), spans


class EntityTagger:
    """A fine-tuned token-classification model with its tokenizer, ready to tag text."""

    def __init__(
        self,
        model: BertForTokenClassification,
        tokenizer: Tokenizer,
        *,
        max_length: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
        scheme: str | None = None,
        batch_size: int = 32,
        precision: str = "fp32",
    ):
        settings = model.config.extra.get(SETTINGS_KEY) or {}
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = model_labels(model)
        limit = model.config.max_position_embeddings
        self.max_length = min(max_length or settings.get("max_length") or limit, limit)
        self.overlap = overlap
        self.scheme = scheme or settings.get("scheme", "bio")
        self.batch_size = batch_size
        self.precision = precision

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, device: str | torch.device | None = None, **options
    ) -> EntityTagger:
        """Load a model folder written by `bertkit finetune ner` (or any HF token classifier)."""
        folder = resolve_model(name_or_path)
        config = load_config(folder)
        architecture = (config.extra.get("architectures") or ["BertModel"])[0]
        if architecture != "BertForTokenClassification" or not config.id2label:
            raise InputError(
                f"{folder} is not a token-classification model (architecture {architecture}, "
                f"{len(config.id2label or {})} labels); fine-tune one with `bertkit finetune ner`"
            )
        model, tokenizer, _ = load_pretrained(folder, "token-classification")
        if device is not None:
            model.to(torch.device(device))
        return cls(model, tokenizer, **options)

    # ---- prediction -------------------------------------------------------------------------

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per word for pre-split sentences."""
        tagged = self._run(sentences)
        return [[self.labels[index] for index in ids] for ids in tagged.tag_ids]

    def predict(self, texts: str | Sequence[str]) -> list[Entity] | list[list[Entity]]:
        """Entities of each raw text (a single string gives a single list)."""
        if isinstance(texts, str):
            return self.predict([texts])[0]
        for text in texts:
            if not isinstance(text, str):
                raise InputError(f"texts must be strings, got {type(text).__name__}")
        spans = [split_words(text) for text in texts]
        words = [
            [text[start:end] for start, end in word_spans]
            for text, word_spans in zip(texts, spans, strict=True)
        ]
        return self._entities(list(texts), spans, words)

    def predict_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[Entity]]:
        """Entities of pre-split sentences; offsets refer to the tokens joined by spaces."""
        joined = [join_tokens(tokens) for tokens in sentences]
        return self._entities(
            [text for text, _ in joined],
            [spans for _, spans in joined],
            [list(tokens) for tokens in sentences],
        )

    def _entities(self, texts, spans, words) -> list[list[Entity]]:
        tagged = self._run(words)
        results = []
        for text, word_spans, ids, confidences in zip(
            texts, spans, tagged.tag_ids, tagged.confidences, strict=True
        ):
            tags = [self.labels[index] for index in ids]
            entities = []
            for span in extract_spans(tags, self.scheme):
                start, end = word_spans[span.start][0], word_spans[span.end - 1][1]
                score = sum(confidences[span.start : span.end]) / (span.end - span.start)
                entities.append(Entity(span.type, text[start:end], start, end, round(score, 4)))
            results.append(entities)
        return results

    def _run(self, sentences: Sequence[Sequence[str]]):
        non_empty = [index for index, words in enumerate(sentences) if words]
        tagged = tag_words(
            self.model,
            self.tokenizer,
            [sentences[index] for index in non_empty],
            max_length=self.max_length,
            overlap=self.overlap,
            batch_size=self.batch_size,
            precision=self.precision,
        )
        # Sentences without words get empty predictions, in their original places.
        tag_ids: list[list[int]] = [[] for _ in sentences]
        confidences: list[list[float]] = [[] for _ in sentences]
        for position, index in enumerate(non_empty):
            tag_ids[index] = tagged.tag_ids[position]
            confidences[index] = tagged.confidences[position]
        tagged.tag_ids, tagged.confidences = tag_ids, confidences
        return tagged

    # ---- evaluation -------------------------------------------------------------------------

    def evaluate(
        self, data: str | os.PathLike | Sequence[Sentence], scheme: str | None = None
    ) -> tuple[NerReport, float | None]:
        """Entity-level scores (and mean word loss) on a labelled CoNLL/JSONL file or sentences."""
        sentences = read_ner_file(Path(data)) if isinstance(data, (str, os.PathLike)) else data
        return evaluate_sentences(
            self.model,
            self.tokenizer,
            sentences,
            max_length=self.max_length,
            scheme=scheme or self.scheme,
            overlap=self.overlap,
            batch_size=self.batch_size,
            precision=self.precision,
        )
