"""Reading labelled text files (CSV, TSV, JSONL) and turning them into training batches.

Every expected problem with a file (unknown format, bad UTF-8, a missing column, unreadable
JSON) raises an InputError naming the file and line. Rows whose text is empty are skipped and
counted in `LabelledData.skipped_lines`, so the caller can report them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from bertkit.errors import InputError
from bertkit.io_utils import read_text_input
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".txt": "text"}


@dataclass
class LabelledData:
    """Texts (and optional second texts) with their labels and source line numbers."""

    source: str  # file name, for messages
    texts: list[str]
    pairs: list[str] | None  # second text of each pair, or None for single texts
    labels: list[str] | None  # labels as strings; None when the file was read without labels
    lines: list[int]  # line number of each row in the file (1-based)
    skipped_lines: list[int] = field(default_factory=list)  # rows dropped for empty text

    def __len__(self) -> int:
        return len(self.texts)


def detect_format(path: str, explicit: str | None = None) -> str:
    """csv, tsv, jsonl or text, from `explicit` or the file extension."""
    if explicit:
        if explicit not in set(FORMATS.values()):
            raise InputError(f"unknown format {explicit!r}; use csv, tsv, jsonl or text")
        return explicit
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot tell the format of {path} from its extension; name it .csv, .tsv or "
            ".jsonl, or pass --format csv|tsv|jsonl"
        )
    return FORMATS[suffix]


def read_text(path: str) -> str:
    """The whole file (or stdin for "-") as UTF-8, or an InputError naming the bad line."""
    return read_text_input(path)[0]


def read_records(path: str, file_format: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV/TSV/JSONL file as (line number, {column: value}) pairs."""
    kind = detect_format(path, file_format) if path != "-" else (file_format or "text")
    content = read_text(path)
    if kind in ("csv", "tsv"):
        return _read_delimited(path, content, "," if kind == "csv" else "\t")
    if kind == "jsonl":
        return _read_jsonl(path, content)
    return [
        (number, {"text": line.rstrip("\r")})
        for number, line in enumerate(content.split("\n"), start=1)
        if line.strip()
    ]


def _read_delimited(path: str, content: str, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    # The csv module refuses fields over 131,072 characters by default; a long review is not
    # malformed (it is truncated to max_length later), and no field can exceed the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(content) + 1))
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header:
            raise InputError(f"{path} is empty: expected a header row naming the columns")
        header = [name.strip() for name in header]
        records = []
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(
                    f"{path}, line {start}: {len(row)} fields but the header has "
                    f"{len(header)}; check the quoting or the delimiter"
                )
            records.append((start, dict(zip(header, row, strict=True))))
    except csv.Error as error:
        raise InputError(f"{path}, line {reader.line_num}: malformed CSV ({error})") from None
    return records


def _read_jsonl(path: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}, line {number}: expected a JSON object per line")
        records.append((number, record))
    return records


def load_labelled(
    path: str,
    *,
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str | None = "label",
    file_format: str | None = None,
) -> LabelledData:
    """Read texts (and labels, unless `label_column` is None) from a CSV/TSV/JSONL file."""
    records = read_records(path, file_format)
    if not records:
        raise InputError(f"{path} holds no rows")
    columns = [text_column] + [name for name in (pair_column, label_column) if name]
    texts, pairs, labels, lines, skipped = [], [], [], [], []
    for line, record in records:
        for column in columns:
            if column not in record:
                raise InputError(_missing_column_message(path, line, column, record))
        text = _as_text(record[text_column], path, line, text_column)
        pair = _as_text(record[pair_column], path, line, pair_column) if pair_column else None
        if not text.strip() or (pair_column and not pair.strip()):
            skipped.append(line)
            continue
        texts.append(text)
        pairs.append(pair)
        lines.append(line)
        if label_column:
            labels.append(_as_label(record[label_column], path, line, label_column))
    if skipped:
        logger.warning(
            "%s: skipped %d row(s) with empty text (line %s)",
            path,
            len(skipped),
            ", ".join(map(str, skipped[:10])) + (" ..." if len(skipped) > 10 else ""),
        )
    if not texts:
        raise InputError(f"{path}: every row has empty text; nothing to use")
    return LabelledData(
        source=path,
        texts=texts,
        pairs=pairs if pair_column else None,
        labels=labels if label_column else None,
        lines=lines,
        skipped_lines=skipped,
    )


def _missing_column_message(path: str, line: int, column: str, record: dict) -> str:
    found = ", ".join(repr(name) for name in record) or "none"
    names = list(record)
    if len(names) == 1 and any(sep in str(names[0]) for sep in ("\t", ",", ";")):
        return (
            f"{path}, line {line}: no column {column!r}: the header was read as one column "
            f"({found}), so the file's delimiter is not the one its extension implies; "
            "rename the file (.csv comma, .tsv tab) or pass --format"
        )
    return (
        f"{path}, line {line}: no column {column!r} (columns: {found}); choose the right one "
        "with --text-column / --pair-column / --label-column"
    )


def _as_text(value: Any, path: str, line: int, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{path}, line {line}: column {column!r} must hold text, got {value!r}")


def _as_label(value: Any, path: str, line: int, column: str) -> str:
    """Labels are compared as strings: 1 in JSON and "1" in CSV are the same class."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise InputError(f"{path}, line {line}: label {value!r} in {column!r} is not a class name")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    label = str(value).strip()
    if not label:
        raise InputError(f"{path}, line {line}: the label column {column!r} is empty")
    return label


def label_set(data: LabelledData) -> list[str]:
    """The classes of a training file in a stable order: numeric if all are integers, else
    alphabetical. A file with fewer than two classes cannot train a classifier."""
    counts = Counter(data.labels or [])
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise InputError(
            f"{data.source} has only one class ({only!r}, {counts.get(only, 0)} rows); a "
            "classifier needs examples of at least two classes"
        )
    names = list(counts)
    if all(_is_integer(name) for name in names):
        return sorted(names, key=int)
    return sorted(names)


def _is_integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def label_ids(data: LabelledData, label2id: dict[str, int]) -> list[int]:
    """Class ids of every row; a label the model does not know is an error naming its line."""
    ids = []
    for label, line in zip(data.labels or [], data.lines, strict=True):
        if label not in label2id:
            known = ", ".join(repr(name) for name in label2id)
            raise InputError(
                f"{data.source}, line {line}: label {label!r} was not seen in training; the "
                f"model knows {known}"
            )
        ids.append(label2id[label])
    return ids


def balanced_class_weights(ids: list[int], num_labels: int) -> torch.Tensor:
    """Weights n / (k * count_c) per class, as scikit-learn's "balanced" mode computes them."""
    counts = torch.bincount(torch.tensor(ids), minlength=num_labels).double()
    weights = len(ids) / (num_labels * counts.clamp(min=1))
    return weights.float()


class EncodedExamples(Dataset):
    """Tokenised rows; item i is {"input_ids", "token_type_ids", "labels"} as Python lists."""

    def __init__(self, tokenizer: Tokenizer, data: LabelledData, ids: list[int], max_length: int):
        encoded = tokenizer(data.texts, data.pairs, truncation=True, max_length=max_length)
        self.input_ids = encoded["input_ids"]
        self.token_type_ids = encoded["token_type_ids"]
        self.labels = ids

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "input_ids": self.input_ids[index],
            "token_type_ids": self.token_type_ids[index],
            "labels": self.labels[index],
        }

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def collate(rows: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch of rows to its longest row: (B, T) ids, types and mask, (B,) labels.

    Any "example_seed" the Trainer attached is ignored: this collation is deterministic.
    """
    width = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)  # (B, T)
    token_type_ids = torch.zeros((len(rows), width), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        length = len(row["input_ids"])
        input_ids[index, :length] = torch.tensor(row["input_ids"])
        token_type_ids[index, :length] = torch.tensor(row["token_type_ids"])
        attention_mask[index, :length] = 1
    labels = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "labels": labels,
    }
