"""Question + context -> model windows, with answer positions mapped through the offsets.

A context longer than fits beside the question becomes several overlapping windows
`[CLS] question [SEP] context-piece [SEP]`; consecutive pieces share `doc_stride` tokens (the
Hugging Face meaning of stride: the overlap, not the step). Each window keeps the character
span of every context token, so a predicted token span maps back to an exact substring of
the original context, whatever the normaliser did (lowercasing, accent stripping).

For training, a window's label is the token span of the gold answer when the whole answer
lies inside the window, else the [CLS] position 0 ("no answer in this window"), as in BERT.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertkit.errors import InputError
from bertkit.tasks.qa.squad import Answer
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 384
DEFAULT_DOC_STRIDE = 128
DEFAULT_MAX_QUESTION_LENGTH = 64
ENCODE_CHUNK = 256  # examples tokenised per call, to bound memory on large files


@dataclass
class Window:
    """One model input: a question with one piece of its context."""

    example_index: int  # which (question, context) pair this window belongs to
    input_ids: list[int]
    token_type_ids: list[int]
    # Character span in the context of each token; None for question and special tokens.
    context_spans: list[tuple[int, int] | None]
    start_position: int = 0  # gold answer start token, 0 ([CLS]) when not in this window
    end_position: int = 0

    def as_training_item(self) -> dict[str, object]:
        return {
            "input_ids": self.input_ids,
            "token_type_ids": self.token_type_ids,
            "start_positions": self.start_position,
            "end_positions": self.end_position,
        }


def check_window_settings(max_length: int, doc_stride: int, max_question_length: int) -> None:
    """Reject lengths that leave no room for context, or a stride as long as a window."""
    room = max_length - max_question_length - 3  # [CLS] question [SEP] ... [SEP]
    if max_question_length < 1 or room < 1:
        raise InputError(
            f"max length {max_length} leaves no room for context beside a question of up to "
            f"{max_question_length} tokens; raise --max-length or lower --max-question-length"
        )
    if not 0 <= doc_stride < room:
        raise InputError(
            f"doc stride {doc_stride} must be at least 0 and below {room}, the context tokens "
            f"a window of {max_length} holds beside a {max_question_length}-token question"
        )


def build_windows(
    tokenizer: Tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    answers: Sequence[Answer | None] | None = None,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    doc_stride: int = DEFAULT_DOC_STRIDE,
    max_question_length: int = DEFAULT_MAX_QUESTION_LENGTH,
) -> list[Window]:
    """Windows of every (question, context) pair, in input order.

    `answers[i]` (training only) is the gold answer of pair i, or None when unanswerable.
    """
    if len(questions) != len(contexts):
        raise InputError(f"got {len(questions)} questions but {len(contexts)} contexts")
    check_window_settings(max_length, doc_stride, max_question_length)
    windows: list[Window] = []
    for chunk_start in range(0, len(questions), ENCODE_CHUNK):
        chunk = range(chunk_start, min(chunk_start + ENCODE_CHUNK, len(questions)))
        chunk_questions = _shorten_questions(
            tokenizer, [questions[i] for i in chunk], max_question_length
        )
        encoded = tokenizer(
            chunk_questions,
            [contexts[i] for i in chunk],
            max_length=max_length,
            truncation="only_second",
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        for row, local_index in enumerate(encoded["overflow_to_sample_mapping"]):
            spans = [
                tuple(offset) if type_id == 1 and not special else None
                for offset, type_id, special in zip(
                    encoded["offset_mapping"][row],
                    encoded["token_type_ids"][row],
                    encoded["special_tokens_mask"][row],
                    strict=True,
                )
            ]
            window = Window(
                example_index=chunk.start + local_index,
                input_ids=encoded["input_ids"][row],
                token_type_ids=encoded["token_type_ids"][row],
                context_spans=spans,
            )
            if answers is not None and answers[window.example_index] is not None:
                answer = answers[window.example_index]
                window.start_position, window.end_position = answer_token_span(
                    spans, answer.start, answer.end
                )
            windows.append(window)
    return windows


def _shorten_questions(
    tokenizer: Tokenizer, questions: list[str], max_question_length: int
) -> list[str]:
    """Cut each question after its first `max_question_length` tokens (at a token end)."""
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    shortened = []
    for question, offsets in zip(questions, encoded["offset_mapping"], strict=True):
        if not offsets:
            raise InputError(f"the question {question!r} has no tokens; it is empty")
        if len(offsets) > max_question_length:
            question = question[: offsets[max_question_length - 1][1]]
        shortened.append(question)
    return shortened


def answer_token_span(
    spans: Sequence[tuple[int, int] | None], char_start: int, char_end: int
) -> tuple[int, int]:
    """Token positions of the answer [char_start, char_end) in a window, or (0, 0) if the
    window does not contain all of it."""
    context_positions = [index for index, span in enumerate(spans) if span is not None]
    if not context_positions or char_end <= char_start:
        return 0, 0
    first, last = context_positions[0], context_positions[-1]
    if spans[first][0] > char_start or spans[last][1] < char_end:
        return 0, 0
    start = next(i for i in context_positions if spans[i][1] > char_start)
    end = next(i for i in reversed(context_positions) if spans[i][0] < char_end)
    if end < start:  # the answer is only whitespace between two tokens
        return 0, 0
    return start, end


def count_unreachable(windows: Sequence[Window], answerable: Sequence[bool]) -> int:
    """Answerable examples whose answer lies wholly inside no window (answer longer than the
    overlap, or cut by truncation): training sees them only as "no answer here"."""
    found = [False] * len(answerable)
    for window in windows:
        if window.start_position > 0:
            found[window.example_index] = True
    return sum(1 for has, ok in zip(answerable, found, strict=True) if has and not ok)


class WindowDataset(torch.utils.data.Dataset):
    """Map-style dataset of training windows for the shared Trainer."""

    def __init__(self, windows: Sequence[Window]):
        self.items = [window.as_training_item() for window in windows]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, object]:
        return dict(self.items[index])


def collate_windows(items: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of window dicts to the longest one: (B, T) ids/types/mask, (B,) labels."""
    width = max(len(item["input_ids"]) for item in items)
    batch = {
        "input_ids": torch.full((len(items), width), pad_token_id, dtype=torch.long),
        "token_type_ids": torch.zeros((len(items), width), dtype=torch.long),
        "attention_mask": torch.zeros((len(items), width), dtype=torch.long),
    }
    for row, item in enumerate(items):
        length = len(item["input_ids"])
        batch["input_ids"][row, :length] = torch.tensor(item["input_ids"])
        batch["token_type_ids"][row, :length] = torch.tensor(item["token_type_ids"])
        batch["attention_mask"][row, :length] = 1
    if "start_positions" in items[0]:
        batch["start_positions"] = torch.tensor([item["start_positions"] for item in items])
        batch["end_positions"] = torch.tensor([item["end_positions"] for item in items])
    # Any "example_seed" the Trainer attached is ignored: this collation is deterministic.
    return batch
