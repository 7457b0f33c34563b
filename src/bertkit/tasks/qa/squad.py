"""Read and validate SQuAD v1.1 / v2.0 JSON files.

The format: {"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
"qas": [{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible",
"plausible_answers"}]}]}]}. Real SQuAD files load unchanged. Every problem is reported with
the file, the line of the offending JSON object, its JSON path and the question id, so a
broken file can be fixed without searching for the culprit.

The file is parsed with the fast C decoder; only when a problem is found is it parsed again
with a position-tracking decoder to name the line.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from dataclasses import dataclass, field
from json.decoder import JSONObject
from json.scanner import py_make_scanner
from pathlib import Path
from typing import Any

from bertkit.errors import InputError
from bertkit.io_utils import decode_text

logger = logging.getLogger(__name__)

MAX_REPORTED_PROBLEMS = 5


@dataclass(frozen=True)
class Answer:
    """A gold answer: its text and where it starts in the context (characters)."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class QAExample:
    """One question about one context, with its gold answers (none when unanswerable)."""

    id: str
    question: str
    context: str
    answers: list[Answer] = field(default_factory=list)
    is_impossible: bool = False
    title: str = ""


@dataclass
class SquadDataset:
    """The examples of a SQuAD file and whether it contains unanswerable questions (v2)."""

    examples: list[QAExample]
    version: str | None
    has_impossible: bool
    path: str


class _Problem(Exception):
    """A validation failure at a JSON path (turned into an InputError with a line number)."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.json_path = path
        self.message = message


class _Problems(Exception):
    """Several problems found in one question (one per bad answer)."""

    def __init__(self, problems: list[_Problem]):
        super().__init__(problems[0].message)
        self.problems = problems


def read_squad(path: str | os.PathLike) -> SquadDataset:
    """Parse and validate a SQuAD-format file; raise InputError naming file, line and id."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SQuAD file {path} not found")
    text = _read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path} line {error.lineno} column {error.colno}: not valid JSON ({error.msg})"
        ) from None
    examples, problems = _collect_examples(document)
    if problems:
        raise InputError(_describe_problems(path, text, problems))
    if not examples:
        raise InputError(f"{path}: no questions found under data[].paragraphs[].qas[]")
    has_impossible = any(example.is_impossible for example in examples)
    version = document.get("version") if isinstance(document.get("version"), str) else None
    logger.info(
        "%s: %d questions (%d unanswerable), SQuAD version %s",
        path,
        len(examples),
        sum(e.is_impossible for e in examples),
        version or "unstated",
    )
    return SquadDataset(examples, version, has_impossible, str(path))


def _read_text(path: Path) -> str:
    return decode_text(path.read_bytes(), str(path))


# ---- validation ---------------------------------------------------------------------------


def _collect_examples(document: Any) -> tuple[list[QAExample], list[_Problem]]:
    """Walk the document; return the examples and every problem found (with its JSON path)."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        return [], [_Problem((), 'the top level must be an object with a "data" list')]
    examples: list[QAExample] = []
    problems: list[_Problem] = []
    seen_ids: dict[str, tuple] = {}
    for a, article in enumerate(document["data"]):
        article_path = ("data", a)
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            problems.append(_Problem(article_path, 'an article must have a "paragraphs" list'))
            continue
        title = article.get("title") if isinstance(article.get("title"), str) else ""
        for p, paragraph in enumerate(article["paragraphs"]):
            paragraph_path = (*article_path, "paragraphs", p)
            try:
                context, qas = _paragraph_fields(paragraph, paragraph_path)
            except _Problem as problem:
                problems.append(problem)
                continue
            for q, qa in enumerate(qas):
                qa_path = (*paragraph_path, "qas", q)
                try:
                    example = _parse_question(qa, context, title, qa_path)
                except _Problem as problem:
                    problems.append(problem)
                    continue
                except _Problems as several:
                    problems.extend(several.problems)
                    continue
                if example.id in seen_ids:
                    problems.append(
                        _Problem(
                            qa_path,
                            f"question id {example.id!r} is used twice (first at "
                            f"{_format_path(seen_ids[example.id])}); ids must be unique",
                        )
                    )
                    continue
                seen_ids[example.id] = qa_path
                examples.append(example)
    return examples, problems


def _paragraph_fields(paragraph: Any, path: tuple) -> tuple[str, list]:
    if not isinstance(paragraph, dict):
        raise _Problem(path, "a paragraph must be an object with context and qas")
    context = paragraph.get("context")
    if not isinstance(context, str) or not context.strip():
        raise _Problem(path, 'the paragraph has no "context" text')
    qas = paragraph.get("qas")
    if not isinstance(qas, list):
        raise _Problem(path, 'the paragraph has no "qas" list')
    return context, qas


def _parse_question(qa: Any, context: str, title: str, path: tuple) -> QAExample:
    if not isinstance(qa, dict):
        raise _Problem(path, "a question entry must be an object")
    question_id = qa.get("id")
    if isinstance(question_id, int) and not isinstance(question_id, bool):
        question_id = str(question_id)
    if not isinstance(question_id, str) or not question_id:
        raise _Problem(path, 'the question has no "id" (a non-empty string)')
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _Problem(path, f'question id {question_id!r}: "question" is missing or empty')
    is_impossible = qa.get("is_impossible", False)
    if not isinstance(is_impossible, bool):
        raise _Problem(path, f'question id {question_id!r}: "is_impossible" must be true or false')
    raw_answers = qa.get("answers")
    if raw_answers is None and is_impossible:
        raw_answers = []
    if not isinstance(raw_answers, list):
        raise _Problem(path, f'question id {question_id!r}: "answers" is missing (expected a list)')
    if not raw_answers and not is_impossible:
        raise _Problem(
            path,
            f"question id {question_id!r} has no answers and is not marked "
            '"is_impossible": true; give at least one answer or mark it unanswerable (SQuAD v2)',
        )
    if raw_answers and is_impossible:
        raise _Problem(
            path,
            f'question id {question_id!r} is marked "is_impossible" but has answers; move them '
            'to "plausible_answers" or drop the flag',
        )
    answers, problems = [], []
    for index, answer in enumerate(raw_answers):
        try:
            answers.append(_parse_answer(answer, context, question_id, (*path, "answers", index)))
        except _Problem as problem:
            problems.append(problem)
    if problems:
        raise _Problems(problems)
    return QAExample(question_id, question, context, answers, is_impossible, title)


def _parse_answer(answer: Any, context: str, question_id: str, path: tuple) -> Answer:
    where = f"question id {question_id!r}"
    if not isinstance(answer, dict):
        raise _Problem(path, f"{where}: an answer must be an object with text and answer_start")
    text = answer.get("text")
    if not isinstance(text, str) or not text:
        raise _Problem(path, f'{where}: the answer has no "text"')
    start = answer.get("answer_start")
    if not isinstance(start, int) or isinstance(start, bool):
        raise _Problem(path, f'{where}: "answer_start" must be an integer, got {start!r}')
    if not 0 <= start <= len(context) - len(text):
        raise _Problem(
            path,
            f"{where}: answer_start {start} with the {len(text)}-character answer {text!r} runs "
            f"outside the {len(context)}-character context",
        )
    found = context[start : start + len(text)]
    if found != text:
        elsewhere = context.find(text)
        hint = "the text is not in the context"
        if elsewhere >= 0:
            hint = f"the text occurs at {elsewhere}"
        raise _Problem(
            path,
            f"{where}: answer_start {start} points at {found!r}, not the answer text {text!r} "
            f"({hint}); answer_start counts characters (not bytes) from 0",
        )
    return Answer(text, start)


# ---- error messages with line numbers ------------------------------------------------------


def _describe_problems(path: Path, text: str, problems: list[_Problem]) -> str:
    lines = _object_lines(text)
    shown = []
    for problem in problems[:MAX_REPORTED_PROBLEMS]:
        line = _line_of(lines, problem.json_path)
        location = f"line {line}, " if line is not None else ""
        shown.append(f"{path} {location}at {_format_path(problem.json_path)}: {problem.message}")
    more = len(problems) - len(shown)
    suffix = f" (and {more} more problem(s))" if more > 0 else ""
    header = "" if len(problems) == 1 else f"{len(problems)} problems in {path}; "
    return header + "; ".join(shown) + suffix


def _format_path(json_path: tuple) -> str:
    if not json_path:
        return "the top level"
    parts = []
    for part in json_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".")


def _line_of(lines: dict[tuple, int] | None, json_path: tuple) -> int | None:
    """Line of the innermost JSON object on `json_path` whose position is known."""
    if lines is None:
        return None
    for depth in range(len(json_path), -1, -1):
        if json_path[:depth] in lines:
            return lines[json_path[:depth]]
    return None


def _object_lines(text: str) -> dict[tuple, int] | None:
    """Map the JSON path of every object and array element to the line where it starts."""
    starts: dict[int, int] = {}  # id(parsed object) -> character offset of its "{"
    keep_alive: list[Any] = []

    def parse_object(s_and_end, *args, **kwargs):
        result, end = JSONObject(s_and_end, *args, **kwargs)
        starts[id(result)] = s_and_end[1] - 1
        keep_alive.append(result)
        return result, end

    decoder = json.JSONDecoder()
    decoder.parse_object = parse_object
    decoder.scan_once = py_make_scanner(decoder)
    try:
        document = decoder.decode(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    newline_offsets = [index for index, char in enumerate(text) if char == "\n"]

    def line_at(offset: int) -> int:
        return bisect.bisect_left(newline_offsets, offset) + 1

    lines: dict[tuple, int] = {}

    def walk(value: Any, json_path: tuple) -> None:
        if isinstance(value, dict):
            if id(value) in starts:
                lines[json_path] = line_at(starts[id(value)])
            for key, item in value.items():
                walk(item, (*json_path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*json_path, index))

    walk(document, ())
    return lines


def write_squad(examples: list[QAExample], path: str | os.PathLike, version: str = "v2.0") -> None:
    """Write examples as a SQuAD file, one paragraph per distinct context, in order."""
    from bertkit.io_utils import atomic_write_file

    articles: dict[str, dict[str, dict]] = {}
    for example in examples:
        paragraphs = articles.setdefault(example.title, {})
        paragraph = paragraphs.setdefault(example.context, {"context": example.context, "qas": []})
        entry: dict[str, Any] = {
            "id": example.id,
            "question": example.question,
            "answers": [{"text": a.text, "answer_start": a.start} for a in example.answers],
        }
        if version.startswith("v2"):
            entry["is_impossible"] = example.is_impossible
        paragraph["qas"].append(entry)
    document = {
        "version": version,
        "data": [
            {"title": title, "paragraphs": list(paragraphs.values())}
            for title, paragraphs in articles.items()
        ],
    }
    with atomic_write_file(path, encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
