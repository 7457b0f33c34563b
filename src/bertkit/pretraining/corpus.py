"""Raw text for pretraining: .txt, .txt.gz and .jsonl files read as documents of lines.

Formats:
- `.txt` / `.txt.gz`: UTF-8 text; a blank line ends a document, so a file without blank lines
  is one document. Each non-blank line is one segment (a sentence or paragraph).
- `.jsonl` / `.jsonl.gz`: one JSON object per line with a string `text` field; each object is
  one document, whose lines are its segments.
A folder stands for the supported files inside it (recursively, sorted by path).

Every file is checked as it is read: a NUL byte (binary data) or invalid UTF-8 stops reading
with an error naming the file and line, before anything is written.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import InputError
from bertkit.io_utils import decode_text

SUFFIXES = (".txt", ".txt.gz", ".jsonl", ".jsonl.gz")


@dataclass
class Document:
    """One document: its non-blank lines, in order, and where it came from."""

    lines: list[str]
    source: str


def resolve_corpus(paths: list[str | os.PathLike]) -> list[Path]:
    """The corpus files named by `paths` (files, or folders searched for SUFFIXES)."""
    if not paths:
        raise InputError("no corpus given: pass one or more .txt, .txt.gz or .jsonl files")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _supported(p))
            if not found:
                raise InputError(f"folder {path} holds no {', '.join(SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            if not _supported(path):
                raise InputError(f"{path}: unsupported corpus file type; use {', '.join(SUFFIXES)}")
            files.append(path)
        else:
            raise InputError(f"corpus file {path} not found")
    return files


def _supported(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def fingerprint(files: list[Path]) -> str:
    """A digest of the corpus files' names and bytes: the data part of the cache key."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def iter_documents(files: list[Path]) -> Iterator[Document]:
    """Documents of every file, in order; raises InputError on unreadable or binary input."""
    for path in files:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            yield from _jsonl_documents(path)
        else:
            yield from _text_documents(path)


def iter_text(files: list[Path]) -> Iterator[str]:
    """Every non-blank line of the corpus, for vocabulary training."""
    for document in iter_documents(files):
        yield from document.lines


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without the newline) of a plain or gzipped UTF-8 file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                yield number, decode_text(raw, str(path), first_line=number).rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"cannot read {path}: {error}") from None


def _text_documents(path: Path) -> Iterator[Document]:
    lines: list[str] = []
    for _, line in _decoded_lines(path):
        if line.strip():
            lines.append(line.strip())
        elif lines:
            yield Document(lines, str(path))
            lines = []
    if lines:
        yield Document(lines, str(path))


def _jsonl_documents(path: Path) -> Iterator[Document]:
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InputError(
                f"{path}, line {number}: expected a JSON object with a string 'text' field"
            )
        lines = [part.strip() for part in record["text"].splitlines() if part.strip()]
        if lines:
            yield Document(lines, f"{path}:{number}")
