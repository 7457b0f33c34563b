"""Tokenize documents in batches and pack the token stream into full-length sequences.

The segments (lines) of a document follow each other in one token stream; consecutive
documents are joined by a [SEP]. The stream is cut into pieces of `max_seq_length - 2` tokens,
each wrapped as `[CLS] piece [SEP]`, so every sequence but the very last is exactly
`max_seq_length` long and no position is spent on padding. A segment that does not fit in the
room left is continued in the next sequence (as in RoBERTa's FULL-SENTENCES packing and
cramming); MLM needs no sentence-pair structure, so nothing is lost by it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np

from bertkit.errors import InputError
from bertkit.pretraining.corpus import Document
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

MIN_SEQ_LENGTH = 8


def pack_sequences(
    documents: Iterable[Document],
    tokenizer: Tokenizer,
    max_seq_length: int = 128,
    lines_per_batch: int = 2048,
) -> Iterator[np.ndarray]:
    """Yield int64 arrays of token ids, each `[CLS] ... [SEP]`, `max_seq_length` long (the
    last one may be shorter)."""
    if max_seq_length < MIN_SEQ_LENGTH:
        raise InputError(f"max_seq_length must be at least {MIN_SEQ_LENGTH}, got {max_seq_length}")
    if max_seq_length > tokenizer.model_max_length:
        logger.warning(
            "max_seq_length %d exceeds the tokenizer's model_max_length %d",
            max_seq_length,
            tokenizer.model_max_length,
        )
    room = max_seq_length - 2
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    carry = np.zeros(0, dtype=np.int64)
    for stream in _token_stream(documents, tokenizer, sep_id, lines_per_batch):
        carry = np.concatenate([carry, stream]) if carry.size else stream
        position = 0
        while True:
            if position < carry.size and carry[position] == sep_id:
                position += 1  # a document boundary at a sequence start: [CLS] already marks it
            if carry.size - position < room:
                break
            yield _wrap(carry[position : position + room], cls_id, sep_id)
            position += room
        carry = carry[position:]
    if carry.size:
        yield _wrap(carry, cls_id, sep_id)


def _wrap(piece: np.ndarray, cls_id: int, sep_id: int) -> np.ndarray:
    return np.concatenate([[cls_id], piece, [sep_id]]).astype(np.int64)


def _token_stream(
    documents: Iterable[Document], tokenizer: Tokenizer, sep_id: int, lines_per_batch: int
) -> Iterator[np.ndarray]:
    """Flat token ids of consecutive batches of lines, with a [SEP] between documents."""
    lines: list[str] = []
    starts: list[bool] = []  # does this line begin a new document?
    first_document = True
    for document in documents:
        for index, line in enumerate(document.lines):
            lines.append(line)
            starts.append(index == 0 and not first_document)
        first_document = False
        if len(lines) >= lines_per_batch:
            yield _encode(lines, starts, tokenizer, sep_id)
            lines, starts = [], []
    if lines:
        yield _encode(lines, starts, tokenizer, sep_id)


def _encode(lines: list[str], starts: list[bool], tokenizer: Tokenizer, sep_id: int) -> np.ndarray:
    encodings = tokenizer.backend.encode_batch(lines, add_special_tokens=False)
    parts = []
    for encoding, starts_document in zip(encodings, starts, strict=True):
        if starts_document:
            parts.append(np.array([sep_id], dtype=np.int64))
        parts.append(np.asarray(encoding.ids, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
