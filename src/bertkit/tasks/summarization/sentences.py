"""Sentence splitting with character offsets, for extractive summarization.

Dependency-free on purpose: the maintained splitters (NLTK's Punkt, spaCy, pySBD) either need
model downloads that do not work offline or bring large dependencies, and none of them knows
about reStructuredText or Markdown markup, which fills real technical documents. The rules:

- the text is first cut into blocks at blank lines; a block is a paragraph, a list, a heading
  or markup;
- markup lines produce no sentences: section adornments (`=====`), reST directives and comments
  (`.. note::`, `.. _label:`), table borders and rows, doctest and shell prompts (`>>> `,
  `... `, `$ `), fenced code (```` ``` ````) and the indented literal blocks that follow a
  line ending in `::`;
- every list item (`*`, `-`, `+`, `•`, `1.`, `1)`, `#.`, `(a)`) starts a new sentence;
- a short block of one line without final punctuation is a heading (kind "heading");
- inside a paragraph, a sentence ends at `.`, `!` or `?` (plus closing quotes or brackets)
  followed by white space and a capital letter, digit, quote or bracket; a known abbreviation
  (`e.g.`, `Dr.`, `Fig.`), a single initial (`J. Smith`) or an ellipsis before a lower-case word
  does not end one, and a decimal (`3.14`) or dotted name (`os.path`) never has white space
  after its dot.

Each Sentence keeps `start`/`end` offsets into the original text, so `text[start:end]` is
exactly the span it came from; `Sentence.text` is that span with runs of white space collapsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lower-cased words (without their final dot) after which a period does not end a sentence.
ABBREVIATIONS = frozenset(
    """
    e.g i.e etc vs cf al approx ca viz resp incl excl esp fig figs eq eqs ch sec secs no nos
    vol vols pp p ed eds rev dept univ assn bros corp inc ltd co mr mrs ms dr prof sr jr st mt
    ft gen gov sen rep lt col capt sgt jan feb mar apr jun jul aug sep sept oct nov dec mon tue
    wed thu fri sat sun u.s u.k a.m p.m ph.d b.sc m.sc approx. op cit ibid
    """.split()
)
# Abbreviations that also end sentences often ("... and so on, etc. The next ..."): a
# following capitalised word is taken as a new sentence.
SENTENCE_FINAL_ABBREVIATIONS = frozenset({"etc", "al", "inc", "ltd", "co", "jr", "sr"})
# Directives whose indented body is code or data, not prose.
CODE_DIRECTIVES = frozenset(
    """
    code code-block sourcecode literalinclude doctest testcode testoutput testsetup
    testcleanup productionlist highlight math raw toctree csv-table image figure graphviz
    """.split()
)

_ADORNMENT = re.compile(r"^\s*([=\-`:'\"~^_*+#<>.])\1{2,}\s*$")
_TABLE_BORDER = re.compile(r"^\s*[+|][-=+|: ]+[+|]\s*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")  # a grid-table or Markdown-table row
# ".. name:: argument" (group 2 = name), ".. _label:", ".. [1]" or a bare ".." comment.
_DIRECTIVE = re.compile(r"^\s*\.\.(\s+([\w:-]+)::|\s+\S|\s*$)")
_OPTION = re.compile(r"^\s*:[\w -]+:(\s|$)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_PROMPT = re.compile(r"^\s*(>>>|\.\.\.|\$|In \[\d+\]:)( |$)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_FIELD = re.compile(r"^\s*:[\w\s.-]+:\s*$")  # a bare reST field marker such as ":param x:"
_BULLET = re.compile(r"^(\s*)([*+\-\u2022\u2023\u25e6]|\d{1,3}[.)]|#\.|\(?[a-zA-Z0-9]{1,3}\))\s+")
_HEADING_MAX_WORDS = 12
# A candidate boundary: terminal punctuation, optional closers, then white space.
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_SENTENCE_START = re.compile(r"\s+([\"'\u201c\u2018(\[]*)([A-Z0-9\u00c0-\u024f`*_:])")
_WORD_BEFORE = re.compile(r"([\w.]+)\.+$")


@dataclass(frozen=True)
class Sentence:
    """One sentence (or list item, or heading) of a document."""

    text: str  # the span with white space collapsed
    start: int  # character offset of its first character in the original text
    end: int  # offset just past its last character
    index: int  # position among the document's sentences, from 0
    kind: str = "sentence"  # "sentence", "item" (a list item) or "heading"

    @property
    def num_words(self) -> int:
        return len(self.text.split())


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of `text` in order, with offsets into it; markup lines are skipped."""
    spans: list[tuple[int, int, str]] = []
    for lines, is_heading in _blocks(text):
        spans.extend(_block_sentences(text, lines, is_heading))
    sentences = []
    for start, end, kind in spans:
        cleaned = " ".join(text[start:end].split())
        if cleaned and any(character.isalnum() for character in cleaned):
            sentences.append(Sentence(cleaned, start, end, len(sentences), kind))
    return sentences


def _blocks(text: str) -> list[tuple[list[tuple[int, str]], bool]]:
    """Blocks of consecutive prose lines as ([(line offset, line)], is a Markdown heading);
    markup and code lines end a block and are dropped."""
    blocks: list[tuple[list[tuple[int, str]], bool]] = []
    current: list[tuple[int, str]] = []
    skip_deeper_than: int | None = None  # inside a literal block or a code directive's body
    options_after: int | None = None  # just after a directive: its ":option:" lines follow
    pending_literal: int | None = None  # indent of a line ending in "::" (a literal follows)
    in_fence = False

    def flush() -> None:
        nonlocal current
        if current:
            blocks.append((current, False))
            current = []

    offset = 0
    for line in text.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        content = line.rstrip("\r\n")
        if not content.strip():
            flush()
            continue
        indent = len(content) - len(content.lstrip())
        if _FENCE.match(content):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        if skip_deeper_than is not None:
            if indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if options_after is not None:
            if indent > options_after and _OPTION.match(content):
                continue
            options_after = None
        if pending_literal is not None and not current and indent > pending_literal:
            skip_deeper_than = pending_literal  # an indented literal block after "::"
            pending_literal = None
            continue
        pending_literal = None
        heading = _MD_HEADING.match(content)
        if heading:
            flush()
            blocks.append(([(start + heading.end(), content[heading.end() :])], True))
            continue
        directive = _DIRECTIVE.match(content)
        if directive:
            flush()
            name = (directive.group(2) or "").lower()
            if name in CODE_DIRECTIVES or directive.group(2) is None:
                skip_deeper_than = indent  # code, or a comment: drop the indented body
            else:
                options_after = indent  # prose directives (note, warning) keep their body
            continue
        if _is_markup(content):
            flush()
            continue
        current.append((start, content))
        if content.rstrip().endswith("::"):
            pending_literal = indent
    flush()
    return blocks


def _is_markup(line: str) -> bool:
    return bool(
        _ADORNMENT.match(line)
        or _TABLE_BORDER.match(line)
        or _TABLE_ROW.match(line)
        or _PROMPT.match(line)
        or _FIELD.match(line)
    )


def _block_sentences(
    text: str, lines: list[tuple[int, str]], is_heading: bool
) -> list[tuple[int, int, str]]:
    """Split one block into list items, then each item or paragraph into sentences."""
    if is_heading or (len(lines) == 1 and _looks_like_heading(lines[0][1])):
        start, line = lines[0]
        left = len(line) - len(line.lstrip())
        return [(start + left, start + len(line.rstrip()), "heading")]

    units: list[tuple[int, int, str]] = []  # (start, end, kind) of paragraphs and items
    for start, line in lines:
        bullet = _BULLET.match(line)
        left = len(line) - len(line.lstrip())
        end = start + len(line.rstrip())
        if bullet:
            units.append((start + bullet.end(), end, "item"))
        elif units:
            units[-1] = (units[-1][0], end, units[-1][2])
        else:
            units.append((start + left, end, "sentence"))

    spans = []
    for start, end, kind in units:
        for sentence_start, sentence_end in _sentence_spans(text, start, end):
            spans.append((sentence_start, sentence_end, kind))
    return spans


def _looks_like_heading(line: str) -> bool:
    stripped = line.strip()
    if _BULLET.match(line) or stripped[-1] in ".!?:;,)":
        return False
    return len(stripped.split()) <= _HEADING_MAX_WORDS


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence boundaries inside text[start:end] (one paragraph or list item)."""
    segment = text[start:end]
    spans, sentence_start = [], 0
    for match in _BOUNDARY.finditer(segment):
        boundary = match.end()
        following = _SENTENCE_START.match(segment, boundary)
        if following is None or not _ends_sentence(segment, match, following):
            continue
        spans.append((start + sentence_start, start + boundary))
        sentence_start = following.start(1)
    if sentence_start < len(segment):
        tail = segment[sentence_start:]
        spans.append((start + sentence_start, start + sentence_start + len(tail.rstrip())))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _ends_sentence(segment: str, boundary: re.Match, following: re.Match) -> bool:
    """Whether the punctuation in `boundary` ends a sentence, given the next word."""
    if boundary.group().rstrip("\"'\u201d\u2019)]") != ".":
        return True  # "!", "?", "...", "?!": taken as sentence ends before a capital
    before = _WORD_BEFORE.search(segment, 0, boundary.start() + 1)
    word = before.group(1).lower() if before else ""
    if word in ABBREVIATIONS and word not in SENTENCE_FINAL_ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha() and following.group(2).isupper():
        return False  # an initial such as "J. Smith"
    return True
