"""Source/target pairs from JSON Lines, tokenized for BERT2BERT training and generation.

One JSON object per line, either with two text fields (default `source` and `target`, e.g.
`{"source": "long article ...", "target": "its summary"}`), or in the WMT/Hugging Face
translation layout `{"translation": {"de": "...", "en": "..."}}` read with a source and a
target language. Blank lines are skipped; every other mistake names the file and line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from bertkit.errors import InputError
from bertkit.io_utils import read_text_input
from bertkit.model.heads import IGNORE_INDEX
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

TRANSLATION_KEY = "translation"


@dataclass
class PairFields:
    """Where a record keeps its source and target text."""

    source_field: str = "source"  # key of the source text
    target_field: str = "target"  # key of the target text
    source_lang: str | None = None  # with target_lang: read record["translation"][lang]
    target_lang: str | None = None

    def __post_init__(self) -> None:
        if (self.source_lang is None) != (self.target_lang is None):
            raise InputError("give both --source-lang and --target-lang, or neither")

    def hint(self) -> str:
        if self.source_lang is not None:
            return "choose the languages with --source-lang/--target-lang"
        return "choose the fields with --source-field/--target-field"


@dataclass
class Pairs:
    """Texts read from one file, with the line number of each record."""

    path: str
    sources: list[str] = field(default_factory=list)
    targets: list[str] | None = field(default_factory=list)  # None when targets are not read
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)


def read_pairs(path: str, fields: PairFields, with_targets: bool = True) -> Pairs:
    """Read a JSONL file of pairs (or of sources only, for generation)."""
    pairs = Pairs(path=path, targets=[] if with_targets else None)
    for number, record in _records(path):
        pairs.sources.append(_text(record, fields, "source", path, number))
        if with_targets:
            pairs.targets.append(_text(record, fields, "target", path, number))
        pairs.lines.append(number)
    if not pairs.sources:
        raise InputError(f"{path} holds no records")
    return pairs


def _records(path: str):
    """(line number, JSON object) of each non-blank line; "-" reads standard input."""
    text, name = read_text_input(path)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                f"{name}, line {number}: not valid JSON ({error.msg}); expected one object per "
                'line such as {"source": "...", "target": "..."}'
            ) from None
        if not isinstance(record, dict):
            raise InputError(f"{name}, line {number}: expected a JSON object, got {record!r:.60}")
        yield number, record


def _text(record: dict, fields: PairFields, side: str, path: str, number: int) -> str:
    where = f"{path}, line {number}"
    if fields.source_lang is not None:
        translation = record.get(TRANSLATION_KEY)
        if not isinstance(translation, dict):
            raise InputError(
                f'{where}: no "{TRANSLATION_KEY}" object (fields: {_keys(record)}); '
                "without --source-lang/--target-lang, pairs are read from --source-field/"
                "--target-field"
            )
        container, key = translation, getattr(fields, f"{side}_lang")
    else:
        container, key = record, getattr(fields, f"{side}_field")
    if key not in container:
        raise InputError(
            f"{where}: no {side} field {key!r} (fields: {_keys(container)}); {fields.hint()}"
        )
    value = container[key]
    if not isinstance(value, str):
        raise InputError(f"{where}: the {side} {key!r} must be a string, got {value!r:.60}")
    if not value.strip():
        raise InputError(f"{where}: the {side} {key!r} is empty; remove or fill that record")
    return value


def _keys(container: dict) -> str:
    return ", ".join(repr(key) for key in container) or "none"


class EncodedPairs(Dataset):
    """Token ids of each pair: the source ([CLS] .. [SEP]) and the target labels (.. [SEP]).

    Sources longer than `max_source_length` tokens, and targets longer than
    `max_target_length` (the end token included), are cut, keeping their final [SEP]; how
    many were cut is in `truncated_sources` / `truncated_targets`.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        pairs: Pairs,
        max_source_length: int,
        max_target_length: int,
    ):
        self.sources, self.truncated_sources = encode_sources(
            tokenizer, pairs.sources, max_source_length
        )
        self.labels: list[list[int]] = []
        self.truncated_targets = 0
        for ids in tokenizer(pairs.targets)["input_ids"]:
            labels = ids[1:]  # drop [CLS]: the decoder start token is fed, never predicted
            if len(labels) > max_target_length:
                labels = labels[: max_target_length - 1] + [labels[-1]]
                self.truncated_targets += 1
            self.labels.append(labels)
        if self.truncated_sources or self.truncated_targets:
            logger.warning(
                "%s: cut %d of %d sources to %d tokens and %d targets to %d tokens",
                pairs.path,
                self.truncated_sources,
                len(pairs),
                max_source_length,
                self.truncated_targets,
                max_target_length,
            )

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return {"input_ids": self.sources[index], "labels": self.labels[index]}


def encode_sources(
    tokenizer: Tokenizer,
    texts: list[str],
    max_length: int,
    truncate: bool = True,
    lines: list[int] | None = None,
    path: str = "input",
) -> tuple[list[list[int]], int]:
    """Source ids ([CLS] .. [SEP]) cut to `max_length`, and how many were cut.

    With `truncate=False` an over-long source is an error naming its line instead.
    """
    encoded, truncated = [], 0
    for index, ids in enumerate(tokenizer(texts)["input_ids"]):
        if len(ids) > max_length:
            if not truncate:
                line = lines[index] if lines is not None else index + 1
                raise InputError(
                    f"{path}, line {line}: the source has {len(ids)} tokens, more than the "
                    f"maximum of {max_length}; shorten it, raise --max-source-length (up to "
                    "the model's max_position_embeddings) or pass --truncate"
                )
            ids = ids[: max_length - 1] + [ids[-1]]
            truncated += 1
        encoded.append(ids)
    return encoded, truncated


def collate(items: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad sources with [PAD] and labels with IGNORE_INDEX to the longest of the batch."""
    source_len = max(len(item["input_ids"]) for item in items)
    target_len = max(len(item["labels"]) for item in items)
    input_ids = torch.full((len(items), source_len), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(items), source_len), dtype=torch.long)
    labels = torch.full((len(items), target_len), IGNORE_INDEX, dtype=torch.long)
    for row, item in enumerate(items):
        source, target = item["input_ids"], item["labels"]
        input_ids[row, : len(source)] = torch.tensor(source)
        attention_mask[row, : len(source)] = 1
        labels[row, : len(target)] = torch.tensor(target)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
