"""ROUGE-1, ROUGE-2 and ROUGE-L through Google's maintained `rouge-score` package.

Scores are F1 (with precision and recall alongside), averaged over documents, on 0-100, with
Porter stemming as in the usual CNN/DailyMail reporting. ROUGE-L is the summary-level variant
too ("rougeLsum": longest common subsequences per sentence, summaries split at newlines), which
is what most extractive-summarization papers report as ROUGE-L.
"""

from __future__ import annotations

from collections.abc import Sequence

from bertkit.errors import BertkitError, InputError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def _scorer(use_stemmer: bool):
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise BertkitError(
            "ROUGE needs the rouge-score package: pip install rouge-score "
            "(or pip install 'bertkit[eval]')"
        ) from None
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)


def rouge_scores(
    predictions: Sequence[str | Sequence[str]],
    references: Sequence[str | Sequence[str]],
    use_stemmer: bool = True,
) -> dict[str, float]:
    """Mean ROUGE over document pairs, e.g. {"rouge1": 41.2, "rouge1_precision": ...}.

    A prediction or reference may be a list of sentences; they are joined with newlines so
    that rougeLsum sees the sentence boundaries.
    """
    if len(predictions) != len(references):
        raise InputError(f"got {len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise InputError("ROUGE needs at least one prediction/reference pair")
    scorer = _scorer(use_stemmer)
    totals = {
        f"{kind}{part}": 0.0 for kind in ROUGE_TYPES for part in ("", "_precision", "_recall")
    }
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score(_as_text(reference), _as_text(prediction))
        for kind, score in scores.items():
            totals[kind] += score.fmeasure
            totals[f"{kind}_precision"] += score.precision
            totals[f"{kind}_recall"] += score.recall
    return {name: 100.0 * value / len(predictions) for name, value in totals.items()}


def _as_text(value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(value)
