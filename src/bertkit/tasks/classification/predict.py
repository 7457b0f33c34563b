"""`TextClassifier`: load a fine-tuned sequence classifier and label texts or text pairs.

    from bertkit.tasks.classification import TextClassifier
    classifier = TextClassifier.from_pretrained("runs/sentiment")
    classifier.predict(["A gripping, beautifully shot film."])
    # [{"label": "positive", "probability": 0.97}]

Inference runs through `bertkit.inference.run_batched`: texts are tokenised once, grouped into
length-sorted batches padded only to their longest row, and results come back in input order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from bertkit.errors import InputError
from bertkit.inference import run_batched
from bertkit.model.heads import BertForSequenceClassification
from bertkit.pretrained import load_pretrained
from bertkit.tasks.classification.evaluate import classification_report
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)


class TextClassifier:
    """A fine-tuned BertForSequenceClassification with its tokenizer and label names."""

    def __init__(
        self,
        model: BertForSequenceClassification,
        tokenizer: Tokenizer,
        *,
        precision: str = "fp32",
        max_length: int | None = None,
        truncate: bool = True,
    ):
        if not model.config.id2label:
            raise InputError(
                "the model has no label names (id2label in config.json); fine-tune it with "
                "`bertkit finetune classify` first"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.precision = precision
        self.max_length = max_length
        self.truncate = truncate  # False: an over-long text is an error, not cut
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        max_length: int | None = None,
        truncate: bool = True,
    ) -> TextClassifier:
        """Load a model folder written by `bertkit finetune classify` (or any HF
        BertForSequenceClassification folder with id2label)."""
        model, tokenizer, report = load_pretrained(name_or_path, "sequence-classification")
        if report.reshaped_heads:
            name, theirs, ours = report.reshaped_heads[0]
            raise InputError(
                f"{name_or_path}: config.json names {model.config.num_labels} labels but the "
                f"weight {name} has shape {theirs} (needs {ours}): the config and the weights "
                "disagree; restore the config.json saved with the model"
            )
        if report.initialised_heads:
            raise InputError(
                f"{name_or_path} has no trained classification head; it is a pretrained "
                "encoder: fine-tune it with `bertkit finetune classify` first"
            )
        return cls(
            model.to(device),
            tokenizer,
            precision=precision,
            max_length=max_length,
            truncate=truncate,
        )

    def predict_proba(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Class probabilities, (N, num_labels), columns in `self.labels` order."""
        if isinstance(texts, str):
            raise InputError("predict takes a list of texts, not a single string")
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)

        def reduce(output, batch):
            return torch.softmax(output.logits.float(), dim=-1).cpu().numpy()

        rows = run_batched(
            self.model,
            self.tokenizer,
            texts,
            reduce,
            text_pairs=text_pairs,
            batch_size=batch_size,
            max_length=self.max_length,
            truncate=self.truncate,
            precision=self.precision,
            progress=progress,
        )
        return np.stack(rows)

    def predict(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 32,
        all_scores: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """For each text: {"label", "probability"} and, with `all_scores`, every class's
        probability under "scores"."""
        probabilities = self.predict_proba(
            texts, text_pairs, batch_size=batch_size, progress=progress
        )
        results = []
        for row in probabilities:
            best = int(row.argmax())
            result: dict[str, Any] = {
                "label": self.labels[best],
                "probability": round(float(row[best]), 6),
            }
            if all_scores:
                result["scores"] = {
                    label: round(float(p), 6) for label, p in zip(self.labels, row, strict=True)
                }
            results.append(result)
        return results

    def evaluate(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class scores and the confusion matrix on labelled texts."""
        label2id = {label: index for index, label in enumerate(self.labels)}
        unknown = sorted({str(label) for label in labels} - set(label2id))
        if unknown:
            raise InputError(
                f"label(s) {', '.join(map(repr, unknown))} were not seen in training; the model "
                f"knows {', '.join(map(repr, self.labels))}"
            )
        probabilities = self.predict_proba(
            texts, text_pairs, batch_size=batch_size, progress=progress
        )
        gold = [label2id[str(label)] for label in labels]
        return classification_report(gold, probabilities.argmax(axis=1).tolist(), self.labels)
