"""What every extractive method shares: which sentences may be picked, how many, and the result.

A method scores candidate sentences; `choose` turns scores into a summary of distinct sentences
in document order, so no method can return a sentence twice or out of order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bertkit.errors import InputError
from bertkit.tasks.summarization.sentences import Sentence, split_sentences

DEFAULT_NUM_SENTENCES = 3
DEFAULT_MIN_WORDS = 4  # shorter sentences ("See below.", "Yes.") are rarely summary material


@dataclass
class Summary:
    """The chosen sentences of one document, in document order."""

    sentences: list[Sentence]  # chosen sentences, ordered by position in the document
    scores: list[float]  # the method's score of each chosen sentence
    method: str  # "centrality", "supervised" or "lead"
    num_document_sentences: int  # sentences found in the document (headings included)
    notes: list[str] = field(default_factory=list)  # e.g. "the document has one sentence"

    @property
    def text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences)

    def to_dict(self) -> dict:
        return {
            "summary": self.text,
            "method": self.method,
            "num_document_sentences": self.num_document_sentences,
            "sentences": [
                {
                    "index": s.index,
                    "start": s.start,
                    "end": s.end,
                    "score": round(score, 6),
                    "text": s.text,
                }
                for s, score in zip(self.sentences, self.scores, strict=True)
            ],
            **({"notes": self.notes} if self.notes else {}),
        }


def document_sentences(text: str) -> list[Sentence]:
    """The sentences of a document; an empty or markup-only document is an InputError."""
    if not isinstance(text, str):
        raise InputError(f"a document must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("the document is empty: there is nothing to summarize")
    sentences = split_sentences(text)
    if not sentences:
        raise InputError(
            "the document holds no sentences (only markup, code or punctuation); pass prose text"
        )
    return sentences


def candidate_sentences(
    sentences: Sequence[Sentence], min_words: int = DEFAULT_MIN_WORDS
) -> list[Sentence]:
    """Sentences a summary may contain: no headings, no very short ones, no repeats.

    A repeated sentence (same words, ignoring case and punctuation) keeps its first occurrence.
    When the filters leave nothing, headings and short sentences are allowed back, so a
    document with any text always yields a summary.
    """
    for allow_short in (False, True):
        seen: set[str] = set()
        chosen = []
        for sentence in sentences:
            if not allow_short and (sentence.kind == "heading" or sentence.num_words < min_words):
                continue
            key = _dedup_key(sentence.text)
            if key in seen or not key:
                continue
            seen.add(key)
            chosen.append(sentence)
        if chosen:
            return chosen
    return []


def _dedup_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def summary_length(
    num_candidates: int, num_sentences: int | None = None, ratio: float | None = None
) -> int:
    """How many sentences to pick: `num_sentences`, or `ratio` of the candidates (at least one),
    capped by the candidates available; the default is DEFAULT_NUM_SENTENCES."""
    if num_sentences is not None and ratio is not None:
        raise InputError("give the summary length as num_sentences or as ratio, not both")
    if num_sentences is not None:
        if isinstance(num_sentences, bool) or not isinstance(num_sentences, int):
            raise InputError(f"num_sentences must be an integer, got {num_sentences!r}")
        if num_sentences < 1:
            raise InputError(f"num_sentences must be at least 1, got {num_sentences}")
        wanted = num_sentences
    elif ratio is not None:
        if not 0.0 < ratio <= 1.0:
            raise InputError(f"ratio must be in (0, 1], got {ratio}")
        wanted = max(1, math.ceil(ratio * num_candidates))
    else:
        wanted = DEFAULT_NUM_SENTENCES
    return min(wanted, num_candidates)


def choose(
    sentences: Sequence[Sentence],
    candidates: Sequence[Sentence],
    picked: Sequence[int],
    scores: Sequence[float],
    method: str,
    wanted: int | None = None,
) -> Summary:
    """Build the Summary from the picked candidate positions (any order) and their scores."""
    unique = sorted(set(picked), key=lambda position: candidates[position].index)
    notes = []
    if len(sentences) == 1:
        notes.append("the document has a single sentence: it is its own summary")
    elif wanted is not None and len(unique) < wanted:
        notes.append(f"only {len(unique)} distinct candidate sentences were available")
    return Summary(
        sentences=[candidates[position] for position in unique],
        scores=[float(scores[position]) for position in unique],
        method=method,
        num_document_sentences=len(sentences),
        notes=notes,
    )


def lead_summary(
    text: str,
    num_sentences: int | None = None,
    ratio: float | None = None,
    min_words: int = DEFAULT_MIN_WORDS,
) -> Summary:
    """The lead-k baseline: the first k candidate sentences."""
    sentences = document_sentences(text)
    candidates = candidate_sentences(sentences, min_words)
    count = summary_length(len(candidates), num_sentences, ratio)
    scores = [1.0 - position / max(1, len(candidates)) for position in range(len(candidates))]
    return choose(sentences, candidates, list(range(count)), scores, "lead", count)


def trigram_blocking_order(
    candidates: Sequence[Sentence],
    order: Sequence[int],
    count: int,
    tokenize: Callable[[str], list[str]] | None = None,
) -> list[int]:
    """Walk candidates best first and keep those sharing no word trigram with a kept one.

    BertSum's redundancy filter for a scorer that sees no other candidate's choice. When the
    filter leaves fewer than `count`, the best blocked ones fill the gap.
    """
    tokenize = tokenize or (lambda text: re.findall(r"\w+", text.lower()))
    kept: list[int] = []
    blocked: list[int] = []
    seen_trigrams: set[tuple[str, ...]] = set()
    for position in order:
        words = tokenize(candidates[position].text)
        trigrams = {tuple(words[i : i + 3]) for i in range(len(words) - 2)}
        if trigrams & seen_trigrams:
            blocked.append(position)
            continue
        kept.append(position)
        seen_trigrams |= trigrams
        if len(kept) == count:
            return kept
    return kept + blocked[: count - len(kept)]
