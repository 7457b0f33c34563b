"""The Python API for extractive question answering.

    qa = QuestionAnswerer.from_pretrained("runs/qa/model")
    qa.predict("Where was Ada born?", "Ada was born in Zürich in 1990.")
    # QAPrediction(answer="Zürich", start=16, end=22, ...), context[16:22] == "Zürich"

Window length, doc stride, answer length, n-best and the null threshold default to what the
model was fine-tuned with (stored in its config.json under "bertkit_qa"), and can be
overridden per instance.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bertkit.config import BertConfig
from bertkit.errors import InputError
from bertkit.inference import autocast_context, length_sorted_batches
from bertkit.model.heads import BertForQuestionAnswering
from bertkit.pretrained import load_pretrained
from bertkit.tasks.qa.decode import (
    DEFAULT_MAX_ANSWER_LENGTH,
    DEFAULT_N_BEST,
    QAPrediction,
    decode_predictions,
)
from bertkit.tasks.qa.features import (
    DEFAULT_DOC_STRIDE,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_QUESTION_LENGTH,
    Window,
    build_windows,
    check_window_settings,
    collate_windows,
)
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

SETTINGS_KEY = "bertkit_qa"  # config.json key holding the QASettings a model was trained with


@dataclass
class QASettings:
    """How contexts are windowed and answers decoded."""

    max_length: int = DEFAULT_MAX_LENGTH  # tokens per window, question included
    doc_stride: int = DEFAULT_DOC_STRIDE  # tokens shared by consecutive windows
    max_question_length: int = DEFAULT_MAX_QUESTION_LENGTH  # longer questions are cut
    max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH  # longest answer span, in tokens
    n_best: int = DEFAULT_N_BEST  # start and end candidates kept per window
    allow_no_answer: bool = False  # SQuAD v2: may answer "" (unanswerable)
    null_threshold: float = 0.0  # answer "" when null score - best span score exceeds this

    @classmethod
    def from_config(cls, config: BertConfig) -> QASettings:
        stored = config.extra.get(SETTINGS_KEY)
        if not stored:
            # Not fine-tuned by bertkit: the defaults, shrunk to fit the model's positions.
            max_length = min(DEFAULT_MAX_LENGTH, config.max_position_embeddings)
            return cls(
                max_length=max_length,
                doc_stride=min(DEFAULT_DOC_STRIDE, max_length // 4),
                max_question_length=min(DEFAULT_MAX_QUESTION_LENGTH, max_length // 4),
            )
        known = {spec.name for spec in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in stored.items() if key in known})

    def replace(self, **overrides) -> QASettings:
        """A copy with the given fields changed; None values keep the current setting."""
        return dataclasses.replace(
            self, **{key: value for key, value in overrides.items() if value is not None}
        )

    def validate(self, max_positions: int) -> QASettings:
        if self.max_length > max_positions:
            raise InputError(
                f"max length {self.max_length} exceeds the model's {max_positions} positions"
            )
        check_window_settings(self.max_length, self.doc_stride, self.max_question_length)
        if self.max_answer_length < 1 or self.n_best < 1:
            raise InputError("max answer length and n-best must be at least 1")
        return self


class QuestionAnswerer:
    """A fine-tuned extractive QA model with its tokenizer and decoding settings."""

    def __init__(
        self,
        model: BertForQuestionAnswering,
        tokenizer: Tokenizer,
        settings: QASettings | None = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = (settings or QASettings.from_config(model.config)).validate(
            model.config.max_position_embeddings
        )
        self.device = torch.device(device) if device is not None else _default_device()
        self.model.to(self.device)
        self.precision = precision

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        **settings,
    ) -> QuestionAnswerer:
        """Load a fine-tuned QA model folder; keyword arguments override QASettings fields."""
        model, tokenizer, report = load_pretrained(name_or_path, "question-answering")
        if report.initialised_heads:
            raise InputError(
                f"{name_or_path} has no trained question-answering head; fine-tune it first "
                "with `bertkit finetune qa`"
            )
        base = QASettings.from_config(model.config)
        return cls(model, tokenizer, base.replace(**settings), device, precision)

    # ---- prediction ---------------------------------------------------------------------

    def predict(self, question: str, context: str) -> QAPrediction:
        """The answer to one question about one context."""
        return self.predict_batch([question], [context])[0]

    def predict_batch(
        self,
        questions: Sequence[str],
        contexts: Sequence[str],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> list[QAPrediction]:
        """Answers to many (question, context) pairs; windows are batched by length."""
        if len(questions) != len(contexts):
            raise InputError(f"got {len(questions)} questions but {len(contexts)} contexts")
        for index, (question, context) in enumerate(zip(questions, contexts, strict=True)):
            if not isinstance(question, str) or not question.strip():
                raise InputError(f"question {index + 1} is empty or not a string")
            if not isinstance(context, str) or not context.strip():
                raise InputError(f"context {index + 1} is empty or not a string")
        settings = self.settings
        windows = build_windows(
            self.tokenizer,
            questions,
            contexts,
            max_length=settings.max_length,
            doc_stride=settings.doc_stride,
            max_question_length=settings.max_question_length,
        )
        start_logits, end_logits = self.score_windows(windows, batch_size, progress)
        return decode_predictions(
            windows,
            start_logits,
            end_logits,
            contexts,
            n_best=settings.n_best,
            max_answer_length=settings.max_answer_length,
            allow_no_answer=settings.allow_no_answer,
            null_threshold=settings.null_threshold,
        )

    def score_windows(
        self,
        windows: Sequence[Window],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Start and end scores of every window, each (T_window,) float32, in input order."""
        return score_windows(
            self.model,
            windows,
            self.tokenizer.pad_token_id,
            batch_size,
            self.precision,
            progress,
        )


def score_windows(
    model: BertForQuestionAnswering,
    windows: Sequence[Window],
    pad_token_id: int,
    batch_size: int = 32,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run `model` over windows in length-sorted batches; also used for evaluation in training."""
    device = next(model.parameters()).device
    starts: list[np.ndarray] = [np.empty(0)] * len(windows)
    ends: list[np.ndarray] = [np.empty(0)] * len(windows)
    lengths = [len(window.input_ids) for window in windows]
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast_context(device, precision):
        for indices in length_sorted_batches(lengths, batch_size):
            items = [
                {"input_ids": windows[i].input_ids, "token_type_ids": windows[i].token_type_ids}
                for i in indices
            ]
            batch = {
                key: value.to(device) for key, value in collate_windows(items, pad_token_id).items()
            }
            output = model(**batch)
            start = output.start_logits.float().cpu().numpy()  # (B, T)
            end = output.end_logits.float().cpu().numpy()
            for row, index in enumerate(indices):
                starts[index] = start[row, : lengths[index]]
                ends[index] = end[row, : lengths[index]]
            if progress is not None:
                progress(len(indices))
    model.train(was_training)
    return starts, ends


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
