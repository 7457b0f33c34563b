"""Oracle sentence labels: the sentences whose union best matches a reference summary.

Supervised extractive training needs a 0/1 label per sentence, but datasets give abstractive
reference summaries. Like BertSum, we label greedily: start from no sentence, repeatedly add
the sentence that most increases ROUGE-1 F1 + ROUGE-2 F1 of the selection against the
reference, and stop when nothing improves it or `max_sentences` are chosen.

ROUGE here is computed from clipped n-gram counts over lower-cased alphanumeric tokens (the
tokenization of the `rouge-score` package without stemming), incrementally, so one greedy step
costs time linear in the document's n-grams and a 20,000-word document is labelled in well
under a second. Reported scores still come from `rouge-score` itself (see rouge.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _f1(overlap: int, predicted: int, reference: int) -> float:
    if overlap == 0 or predicted == 0 or reference == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


class _NgramState:
    """Clipped overlap of a growing selection with the reference, for one n."""

    def __init__(self, reference: Counter):
        self.reference = reference
        self.reference_total = sum(reference.values())
        self.selected: Counter = Counter()
        self.selected_total = 0
        self.overlap = 0

    def overlap_with(self, candidate: Counter) -> int:
        gain = 0
        for gram, count in candidate.items():
            limit = self.reference.get(gram, 0)
            if limit:
                have = self.selected.get(gram, 0)
                gain += min(have + count, limit) - min(have, limit)
        return self.overlap + gain

    def f1_with(self, candidate: Counter, candidate_total: int) -> float:
        return _f1(
            self.overlap_with(candidate),
            self.selected_total + candidate_total,
            self.reference_total,
        )

    def add(self, candidate: Counter, candidate_total: int) -> None:
        self.overlap = self.overlap_with(candidate)
        self.selected.update(candidate)
        self.selected_total += candidate_total


def greedy_oracle(sentences: Sequence[str], reference: str, max_sentences: int = 3) -> list[int]:
    """Indices (ascending) of the sentences chosen greedily by ROUGE-1 + ROUGE-2 F1."""
    reference_tokens = rouge_tokens(reference)
    if not reference_tokens or max_sentences < 1:
        return []
    states = [_NgramState(ngrams(reference_tokens, n)) for n in (1, 2)]
    grams = []
    for sentence in sentences:
        tokens = rouge_tokens(sentence)
        per_n = [ngrams(tokens, n) for n in (1, 2)]
        grams.append([(counts, sum(counts.values())) for counts in per_n])

    chosen: list[int] = []
    best_score = 0.0
    while len(chosen) < min(max_sentences, len(sentences)):
        step_best, step_index = best_score, None
        for index, sentence_grams in enumerate(grams):
            if index in chosen or sentence_grams[0][1] == 0:
                continue
            score = sum(
                state.f1_with(counts, total)
                for state, (counts, total) in zip(states, sentence_grams, strict=True)
            )
            if score > step_best:
                step_best, step_index = score, index
        if step_index is None:
            break
        for state, (counts, total) in zip(states, grams[step_index], strict=True):
            state.add(counts, total)
        chosen.append(step_index)
        best_score = step_best
    return sorted(chosen)
