"""Exact match and F1 as the official SQuAD v1.1 / v2.0 evaluation scripts define them.

Text is normalised before comparison: lowercased, ASCII punctuation removed, the articles
"a", "an", "the" removed, whitespace collapsed. A question's score is the maximum over its
gold answers. An unanswerable question (v2) has the single gold answer "": predicting "" scores
1 on both metrics, anything else 0. `best_null_thresholds` finds the null threshold that
maximises EM or F1 on the data, as the official v2 script does with its no-answer
probabilities.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = "".join(char for char in text if char not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised texts; an empty side scores 1 only if both are."""
    predicted_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not predicted_tokens or not gold_tokens:
        return float(predicted_tokens == gold_tokens)
    common = collections.Counter(predicted_tokens) & collections.Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_over_gold(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) against the best-matching gold answer; no gold answers means unanswerable."""
    golds = [gold for gold in golds if normalize_answer(gold)] or [""]
    return (
        max(exact_match(prediction, gold) for gold in golds),
        max(f1_score(prediction, gold) for gold in golds),
    )


def squad_scores(
    predictions: Mapping[str, str], gold_answers: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Official-style report in percent: exact, f1, total, and HasAns_/NoAns_ breakdowns.

    `predictions` maps question id -> predicted text ("" = no answer); a question without a
    prediction scores 0.
    """
    exact, f1 = {}, {}
    for question_id, golds in gold_answers.items():
        if question_id in predictions:
            exact[question_id], f1[question_id] = best_over_gold(predictions[question_id], golds)
        else:
            exact[question_id], f1[question_id] = 0.0, 0.0
    has_answer = [qid for qid, golds in gold_answers.items() if _answerable(golds)]
    no_answer = [qid for qid, golds in gold_answers.items() if not _answerable(golds)]
    report = _summary(exact, f1, list(gold_answers))
    if has_answer and no_answer:
        for prefix, ids in (("HasAns", has_answer), ("NoAns", no_answer)):
            part = _summary(exact, f1, ids)
            report.update({f"{prefix}_{key}": value for key, value in part.items()})
    return report


def best_null_thresholds(
    span_predictions: Mapping[str, str],
    null_score_diffs: Mapping[str, float],
    gold_answers: Mapping[str, Sequence[str]],
) -> dict[str, float]:
    """The null thresholds that maximise EM and F1 on this data, and those maxima (percent).

    `span_predictions[id]` is the best non-empty span whatever the threshold, and
    `null_score_diffs[id]` its null score - span score; at threshold t the answer is "" when
    the difference exceeds t. Questions without a prediction score 0.
    """
    report: dict[str, float] = {}
    ids = [qid for qid in gold_answers if qid in span_predictions]
    for index, name in enumerate(("exact", "f1")):
        null_scores = {qid: best_over_gold("", gold_answers[qid])[index] for qid in ids}
        span_scores = {
            qid: best_over_gold(span_predictions[qid], gold_answers[qid])[index] for qid in ids
        }
        # Threshold below every difference: all answered "". Raising it past a question's
        # difference switches that question to its span.
        current = sum(null_scores.values())
        best, best_threshold = current, min(null_score_diffs[qid] for qid in ids) - 1.0
        for qid in sorted(ids, key=lambda qid: null_score_diffs[qid]):
            current += span_scores[qid] - null_scores[qid]
            if current > best:
                best, best_threshold = current, null_score_diffs[qid]
        report[f"best_{name}"] = 100.0 * best / len(gold_answers)
        report[f"best_{name}_thresh"] = best_threshold
    return report


def _answerable(golds: Sequence[str]) -> bool:
    return any(normalize_answer(gold) for gold in golds)


def _summary(exact: Mapping[str, float], f1: Mapping[str, float], ids: list[str]) -> dict:
    total = len(ids)
    return {
        "exact": 100.0 * sum(exact[qid] for qid in ids) / total if total else 0.0,
        "f1": 100.0 * sum(f1[qid] for qid in ids) / total if total else 0.0,
        "total": float(total),
    }
