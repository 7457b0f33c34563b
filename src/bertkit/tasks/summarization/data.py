"""Reading documents and reference summaries: JSONL with configurable fields, or plain text.

Labelled data is JSONL, one object per line: `{"document": ..., "summary": ...}` by default;
CNN/DailyMail's `article`/`highlights` and the common `text`/`summary` are recognised without
flags. A summary may be one string or a list of sentences. Predict input is the same JSONL
(the summary field is optional there) or plain text, where the whole input is one document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bertkit.errors import InputError
from bertkit.io_utils import read_text_input

# (document field, summary field) pairs tried in order when the user names none.
KNOWN_FIELDS = (("document", "summary"), ("article", "highlights"), ("text", "summary"))


@dataclass
class Document:
    """One document, with its reference summary when the data has one."""

    text: str
    summary: str | None  # sentences joined by newlines
    line: int  # 1-based line in the source file (1 for plain text)
    record: dict | None = None  # the JSON object it came from, for passing fields through


def looks_like_jsonl(text: str) -> bool:
    """True when the first non-blank line is a JSON object."""
    for line in text.splitlines():
        if line.strip():
            if not line.lstrip().startswith("{"):
                return False
            try:
                return isinstance(json.loads(line), dict)
            except json.JSONDecodeError:
                return False
    return False


def read_documents(
    source: str,
    *,
    document_field: str | None = None,
    summary_field: str | None = None,
    require_summary: bool = False,
    input_format: str = "auto",
) -> list[Document]:
    """Documents from a JSONL file, or one plain-text document; `input_format` is "auto",
    "jsonl" or "text"."""
    if input_format not in ("auto", "jsonl", "text"):
        raise InputError(f"input format must be auto, jsonl or text, got {input_format!r}")
    text, name = read_text_input(source)
    if input_format == "text" or (input_format == "auto" and not looks_like_jsonl(text)):
        if require_summary:
            raise InputError(
                f"{name} is not JSONL: labelled summarization data needs one JSON object per "
                'line, e.g. {"document": "...", "summary": "..."}'
            )
        if not text.strip():
            raise InputError(f"{name} is empty: there is nothing to summarize")
        return [Document(text=text, summary=None, line=1)]
    return parse_jsonl(text, name, document_field, summary_field, require_summary)


def parse_jsonl(
    text: str,
    name: str,
    document_field: str | None,
    summary_field: str | None,
    require_summary: bool,
) -> list[Document]:
    documents = []
    fields: tuple[str, str | None] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise InputError(
                f"{name}:{number}: expected a JSON object, got {type(record).__name__}"
            )
        if fields is None:
            fields = _pick_fields(record, name, number, document_field, summary_field)
        document = _field_text(record, fields[0], name, number, "document")
        if document is None:
            raise InputError(f"{name}:{number}: no {fields[0]!r} field (the document text)")
        summary = None
        if fields[1] is not None and fields[1] in record:
            summary = _field_text(record, fields[1], name, number, "summary")
        if require_summary and not (summary and summary.strip()):
            raise InputError(
                f"{name}:{number}: no reference summary in field {fields[1]!r}; every training "
                "or evaluation line needs one"
            )
        documents.append(Document(document, summary, number, record))
    if not documents:
        raise InputError(f"{name} holds no JSON lines")
    return documents


def _pick_fields(
    record: dict, name: str, line: int, document_field: str | None, summary_field: str | None
) -> tuple[str, str | None]:
    if document_field is not None:
        if document_field not in record:
            raise InputError(
                f"{name}:{line}: no field {document_field!r}; the fields are "
                f"{', '.join(sorted(record))}"
            )
        return document_field, summary_field or _default_summary_field(record, document_field)
    for document_key, summary_key in KNOWN_FIELDS:
        if document_key in record:
            return document_key, summary_field or summary_key
    raise InputError(
        f"{name}:{line}: cannot tell which field holds the document (fields: "
        f"{', '.join(sorted(record))}); pass --document-field (and --summary-field)"
    )


def _default_summary_field(record: dict, document_field: str) -> str | None:
    for _, summary_key in KNOWN_FIELDS:
        if summary_key in record and summary_key != document_field:
            return summary_key
    return None


def _field_text(record: dict, field: str, name: str, line: int, what: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    if not isinstance(value, str):
        raise InputError(
            f"{name}:{line}: the {what} field {field!r} must be a string or a list of "
            f"strings, got {type(value).__name__}"
        )
    return value
