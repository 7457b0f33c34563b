"""Corpus BLEU for translation and ROUGE for summarization.

BLEU follows the standard definition (Papineni et al., 2002) as sacreBLEU computes it by
default, so scores are comparable with published ones: the "13a" tokenization of the WMT
`mteval-v13a` script, clipped n-gram matches for n = 1..4 summed over the corpus, geometric
mean of the four precisions, brevity penalty exp(1 - r/c) when the output is shorter than the
references, and sacreBLEU's default "exp" smoothing of n-gram orders without any match.
Scores are on 0-100. ROUGE comes from `bertkit.tasks.summarization.rouge` (rouge-score).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from bertkit.errors import InputError

MAX_ORDER = 4

# The regular expressions of mteval-v13a's tokenizer, applied in this order.
_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # most punctuation
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period/comma not after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period/comma not before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
]


def tokenize_13a(text: str) -> list[str]:
    """Split `text` into tokens the way mteval-v13a (and sacreBLEU's default) does."""
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in text:
        for escaped, plain in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
            text = text.replace(escaped, plain)
    text = f" {text} "
    for pattern, replacement in _13A_RULES:
        text = pattern.sub(replacement, text)
    return text.split()


def _ngrams(tokens: list[str], order: int) -> Counter:
    return Counter(tuple(tokens[i : i + order]) for i in range(len(tokens) - order + 1))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU of `hypotheses` against one reference each, with its parts.

    Returns {"bleu", "precision_1".."precision_4", "brevity_penalty", "length_ratio",
    "hypothesis_length", "reference_length"}.
    """
    if len(hypotheses) != len(references):
        raise InputError(f"got {len(hypotheses)} outputs but {len(references)} references")
    if not hypotheses:
        raise InputError("BLEU needs at least one output/reference pair")
    matches, totals = [0] * MAX_ORDER, [0] * MAX_ORDER
    hypothesis_length = reference_length = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp_tokens, ref_tokens = tokenize_13a(hypothesis), tokenize_13a(reference)
        hypothesis_length += len(hyp_tokens)
        reference_length += len(ref_tokens)
        for order in range(1, MAX_ORDER + 1):
            hyp_counts, ref_counts = _ngrams(hyp_tokens, order), _ngrams(ref_tokens, order)
            matches[order - 1] += sum((hyp_counts & ref_counts).values())
            totals[order - 1] += max(len(hyp_tokens) - order + 1, 0)

    precisions = [0.0] * MAX_ORDER
    smoothing = 1.0
    for order in range(MAX_ORDER):
        if totals[order] == 0:
            break
        if matches[order] == 0:
            smoothing *= 2  # "exp" smoothing: 1/2, 1/4, ... of a match for empty orders
            precisions[order] = 100.0 / (smoothing * totals[order])
        else:
            precisions[order] = 100.0 * matches[order] / totals[order]
    if hypothesis_length < reference_length:
        brevity = math.exp(1 - reference_length / hypothesis_length) if hypothesis_length else 0.0
    else:
        brevity = 1.0
    if matches[0] == 0 or min(precisions) == 0.0:
        bleu = 0.0
    else:
        bleu = brevity * math.exp(sum(math.log(p) for p in precisions) / MAX_ORDER)
    report = {"bleu": bleu}
    report.update({f"precision_{n + 1}": precisions[n] for n in range(MAX_ORDER)})
    report.update(
        brevity_penalty=brevity,
        length_ratio=hypothesis_length / reference_length if reference_length else 0.0,
        hypothesis_length=float(hypothesis_length),
        reference_length=float(reference_length),
    )
    return report


def sequence_metrics(
    metric: str, predictions: Sequence[str], references: Sequence[str]
) -> dict[str, float]:
    """{"bleu"} or {"rouge1", "rouge2", "rougeL", "rougeLsum"}, plus "exact_match"; 0-100.

    BLEU is 0 for a corpus whose outputs are all shorter than 4 tokens (no 4-gram can match);
    exact match (outputs equal to their reference up to whitespace) still says how many are
    right there.
    """
    if metric == "bleu":
        scores = {"bleu": corpus_bleu(predictions, references)["bleu"]}
    elif metric == "rouge":
        from bertkit.tasks.summarization.rouge import rouge_scores

        rouge = rouge_scores(list(predictions), list(references))
        scores = {name: rouge[name] for name in ("rouge1", "rouge2", "rougeL", "rougeLsum")}
    else:
        raise InputError(f"unknown metric {metric!r}; use bleu or rouge")
    scores["exact_match"] = exact_match(predictions, references)
    return scores


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Percentage of outputs equal to their reference, whitespace normalised."""
    same = sum(
        " ".join(p.split()) == " ".join(r.split())
        for p, r in zip(predictions, references, strict=True)
    )
    return 100.0 * same / max(len(predictions), 1)


METRICS = ("bleu", "rouge")
MAIN_METRIC = {"bleu": "bleu", "rouge": "rougeL"}
