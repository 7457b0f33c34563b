"""From words and word tags to model inputs: WordPieces, first-piece labels and windows.

Each word is cut into WordPieces; its tag sits on the first piece and the other pieces get
IGNORE_INDEX, so they are left out of the loss and of prediction. A word that yields no piece
at all (a lone control or zero-width character, which BERT's normaliser deletes) is given
[UNK], so it keeps a position, a label and a prediction.

A sentence longer than `max_length - 2` pieces is cut at word boundaries into overlapping
windows of whole words; consecutive windows share about `overlap` pieces. Every word belongs
to ("is owned by") the window where it has the most context on both sides, as in BERT's
SQuAD recipe: it is labelled only there in training and read only from there in prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertkit.errors import InputError
from bertkit.model.heads import IGNORE_INDEX
from bertkit.tokenization import Tokenizer

DEFAULT_OVERLAP = 32  # pieces shared by consecutive windows of a long sentence


@dataclass
class Feature:
    """One model input: a window of whole words of one sentence."""

    sentence: int  # index of the sentence in the input list
    word_start: int  # first word of the window
    word_end: int  # one past the last word
    input_ids: list[int]  # [CLS] pieces [SEP]
    word_positions: list[int]  # token position of the first piece of each word in the window
    owned: list[bool]  # whether this window is the one each word is read from
    labels: list[int] | None = None  # per token: tag id on owned first pieces, else IGNORE_INDEX


def word_pieces(tokenizer: Tokenizer, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
    """WordPiece ids of every word of every sentence: [sentence][word] -> ids."""
    encodings = tokenizer.backend.encode_batch(
        [list(words) for words in sentences], is_pretokenized=True, add_special_tokens=False
    )
    result = []
    for words, encoding in zip(sentences, encodings, strict=True):
        pieces: list[list[int]] = [[] for _ in words]
        for token_id, word_id in zip(encoding.ids, encoding.word_ids, strict=True):
            if word_id is not None:
                pieces[word_id].append(token_id)
        result.append([ids or [tokenizer.unk_token_id] for ids in pieces])
    return result


def window_spans(piece_counts: Sequence[int], capacity: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) of the windows: each holds at most `capacity` pieces (a word
    longer than that alone is cut to it), consecutive ones share up to `overlap` pieces."""
    if capacity < 1:
        raise InputError("max_length must leave room for at least one piece besides [CLS] [SEP]")
    counts = [min(count, capacity) for count in piece_counts]
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(counts):
        end, used = start, 0
        while end < len(counts) and used + counts[end] <= capacity:
            used += counts[end]
            end += 1
        spans.append((start, end))
        if end == len(counts):
            break
        # Back off by up to `overlap` pieces, leaving room for at least the next new word.
        limit = min(overlap, capacity - counts[end])
        next_start, shared = end, 0
        while next_start - 1 > start and shared + counts[next_start - 1] <= limit:
            next_start -= 1
            shared += counts[next_start]
        start = next_start
    return spans


def owning_windows(
    spans: Sequence[tuple[int, int]], piece_counts: Sequence[int], num_words: int
) -> list[int]:
    """For each word, the window in which it has the most context (ties: the earlier one)."""
    best_window = [0] * num_words
    best_score = [-1.0] * num_words
    for index, (start, end) in enumerate(spans):
        before = 0
        total = sum(piece_counts[start:end])
        for word in range(start, end):
            after = total - before - piece_counts[word]
            # Fewer pieces on the poorer side means less context; window size breaks ties.
            score = min(before, after) + 0.01 * total
            if score > best_score[word]:
                best_score[word], best_window[word] = score, index
            before += piece_counts[word]
    return best_window


def build_features(
    tokenizer: Tokenizer,
    sentences: Sequence[Sequence[str]],
    max_length: int,
    tag_ids: Sequence[Sequence[int]] | None = None,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Feature]:
    """Model inputs for `sentences`, windowed to `max_length` tokens, labelled if `tag_ids`."""
    if max_length < 3:
        raise InputError(
            f"max_length must be at least 3 ([CLS], one piece, [SEP]), got {max_length}"
        )
    if overlap < 0:
        raise InputError(f"window overlap must not be negative, got {overlap}")
    capacity = max_length - 2
    features = []
    for index, pieces in enumerate(word_pieces(tokenizer, sentences)):
        pieces = [ids[:capacity] for ids in pieces]
        counts = [len(ids) for ids in pieces]
        spans = window_spans(counts, capacity, min(overlap, capacity - 1))
        owners = owning_windows(spans, counts, len(pieces))
        for window, (start, end) in enumerate(spans):
            input_ids = [tokenizer.cls_token_id]
            positions = []
            for ids in pieces[start:end]:
                positions.append(len(input_ids))
                input_ids.extend(ids)
            input_ids.append(tokenizer.sep_token_id)
            owned = [owners[word] == window for word in range(start, end)]
            labels = None
            if tag_ids is not None:
                labels = [IGNORE_INDEX] * len(input_ids)
                for offset, position in enumerate(positions):
                    if owned[offset]:
                        labels[position] = tag_ids[index][start + offset]
            features.append(Feature(index, start, end, input_ids, positions, owned, labels))
    return features


class FeatureDataset(torch.utils.data.Dataset):
    """Map-style dataset of labelled features for the Trainer."""

    def __init__(self, features: Sequence[Feature]):
        if any(feature.labels is None for feature in features):
            raise ValueError("training features need labels")
        self.features = list(features)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        feature = self.features[index]
        return {"input_ids": feature.input_ids, "labels": feature.labels}


class Collator:
    """Pads a list of examples to the longest one: ids with [PAD], labels with IGNORE_INDEX.

    Padding draws no randomness, so the trainer's per-example seeds are ignored."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        width = max(len(example["input_ids"]) for example in examples)
        input_ids = torch.full((len(examples), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
        for row, example in enumerate(examples):
            length = len(example["input_ids"])
            input_ids[row, :length] = torch.tensor(example["input_ids"])
            attention_mask[row, :length] = 1
            if example.get("labels") is not None:
                labels[row, :length] = torch.tensor(example["labels"])
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}  # each (B, T)
        if any(example.get("labels") is not None for example in examples):
            batch["labels"] = labels  # (B, T)
        return batch
