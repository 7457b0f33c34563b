"""Reading labelled NER data: CoNLL-style column files and JSONL, with tag checks.

CoNLL: one token per line, the token in the first column and its tag in the last one (columns
split on tabs when the line has one, else on spaces, so POS/chunk columns in between are
ignored); a blank (or whitespace-only) line ends a sentence; `-DOCSTART-` lines are skipped.
JSONL: one sentence per line, `{"tokens": [...], "tags": [...]}` (`ner_tags` is accepted for
`tags` when it holds tag names).

Tags follow the BIO / IOB2 convention: `O`, or `B-TYPE` / `I-TYPE`. Every sentence remembers
the file and line of each token, so a bad tag is reported where it is.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import InputError
from bertkit.io_utils import decode_text

logger = logging.getLogger(__name__)

OUTSIDE = "O"
TAG_PREFIXES = ("B", "I")
DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    """One labelled (or unlabelled, tags=None) sentence and where it came from."""

    words: list[str]
    tags: list[str] | None
    source: str  # file name, for error messages
    lines: list[int]  # 1-based line number of each word (JSONL: the sentence's line, repeated)


def read_ner_file(path: str | os.PathLike, require_tags: bool = True) -> list[Sentence]:
    """Sentences of a CoNLL or JSONL file; the format is told from the first non-blank char."""
    path = Path(path)
    text = _read_text(path)
    first = text.lstrip()[:1]
    sentences = (
        _parse_jsonl(text, str(path), require_tags)
        if first == "{"
        else _parse_conll(text, str(path), require_tags)
    )
    if not sentences:
        raise InputError(f"{path} holds no sentences; expected CoNLL columns or JSONL lines")
    return sentences


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"data file {path} not found")
    return decode_text(path.read_bytes(), str(path))


def _parse_conll(text: str, source: str, require_tags: bool) -> list[Sentence]:
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    lines: list[int] = []

    def flush() -> None:
        if words:
            sentences.append(Sentence(list(words), list(tags), source, list(lines)))
            words.clear()
            tags.clear()
            lines.clear()

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            flush()
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        columns = [column.strip() for column in columns]
        if columns[0] == DOCSTART:
            flush()
            continue
        if len(columns) < 2 or not columns[-1]:
            if require_tags:
                raise InputError(
                    f"{source}:{number}: line {line.strip()!r} has a token but no tag; CoNLL "
                    "lines need the token first and its tag in the last column"
                )
            columns = [columns[0], ""]
        if not columns[0]:
            raise InputError(f"{source}:{number}: the token column is empty")
        words.append(columns[0])
        tags.append(columns[-1])
        lines.append(number)
    flush()
    if not require_tags:
        for sentence in sentences:
            if not any(sentence.tags):
                sentence.tags = None
    return sentences


def _parse_jsonl(text: str, source: str, require_tags: bool) -> list[Sentence]:
    sentences = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{source}:{number}: invalid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{source}:{number}: expected a JSON object with tokens and tags")
        words = record.get("tokens", record.get("words"))
        tags = record.get("tags", record.get("ner_tags"))
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise InputError(f'{source}:{number}: "tokens" must be a list of non-empty strings')
        if tags is None and not require_tags:
            sentences.append(Sentence(words, None, source, [number] * len(words)))
            continue
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise InputError(
                f'{source}:{number}: "tags" must be a list of tag names such as "B-PER" '
                "(integer tag ids are not accepted: their names would be unknown)"
            )
        if len(tags) != len(words):
            raise InputError(
                f"{source}:{number}: {len(words)} tokens but {len(tags)} tags; give one tag per "
                "token"
            )
        if words:
            sentences.append(Sentence(words, tags, source, [number] * len(words)))
    return sentences


def split_tag(tag: str) -> tuple[str, str | None]:
    """("B", "PER") for "B-PER", ("O", None) for "O"; anything else is not a BIO tag."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, dash, entity_type = tag.partition("-")
    if dash and prefix in TAG_PREFIXES and entity_type:
        return prefix, entity_type
    raise ValueError(tag)


def check_tags(sentences: list[Sentence], labels: list[str] | None = None) -> None:
    """Every tag must be a BIO tag and, when `labels` is given, one of them.

    The error names the file and line of the first offending tag and says what to do.
    """
    allowed = set(labels) if labels is not None else None
    for sentence in sentences:
        for tag, line in zip(sentence.tags or [], sentence.lines, strict=False):
            try:
                split_tag(tag)
            except ValueError:
                raise InputError(
                    f"{sentence.source}:{line}: tag {tag!r} is not a BIO/IOB2 tag; use O, "
                    "B-TYPE or I-TYPE"
                ) from None
            if allowed is not None and tag not in allowed:
                shown = ", ".join(sorted(allowed)[:12]) + (" ..." if len(allowed) > 12 else "")
                raise InputError(
                    f"{sentence.source}:{line}: tag {tag!r} is not in the model's label set "
                    f"({shown}); fix the tag or fine-tune on data that has it"
                )


def label_set(sentences: list[Sentence]) -> list[str]:
    """O, then B-/I- of every entity type seen, types sorted: a type seen only as B- still
    gets its I- label so the model can tag multi-word entities of it."""
    check_tags(sentences)
    types = sorted(
        {split_tag(tag)[1] for sentence in sentences for tag in sentence.tags or []} - {None}
    )
    return [OUTSIDE] + [f"{prefix}-{entity_type}" for entity_type in types for prefix in "BI"]
