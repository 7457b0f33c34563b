"""Start/end scores of every window -> one answer per question.

For each window the `n_best` highest start and end scores among context tokens are paired;
pairs with end before start or longer than `max_answer_length` tokens are dropped, and a
pair's score is start + end. Candidates from all windows of a context compete, the same
character span seen in two overlapping windows counts once (its best score). The null score
is start + end at [CLS], the smallest over the windows (the window that most believes an
answer is present). With unanswerable questions allowed, the answer is empty when
null score - best span score > `null_threshold`.

Answers are exact substrings of the context: `context[start:end]`, through the token offsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bertkit.errors import InputError
from bertkit.tasks.qa.features import Window

DEFAULT_N_BEST = 20
DEFAULT_MAX_ANSWER_LENGTH = 30


@dataclass
class Candidate:
    """A possible answer: a character span of the context and its score."""

    text: str
    start: int  # character offset in the context
    end: int  # exclusive: text == context[start:end]
    score: float  # start logit + end logit
    probability: float = 0.0  # softmax over the n-best scores (and the null score, if allowed)


@dataclass
class QAPrediction:
    """The decoded answer of one question; `answer` is "" when predicted unanswerable."""

    answer: str
    start: int | None  # character offsets in the context, None when unanswerable
    end: int | None
    score: float  # score of the chosen span (or the null score)
    null_score_diff: float  # null score - best span score: higher = more likely unanswerable
    is_impossible: bool
    n_best: list[Candidate] = field(default_factory=list)

    def to_dict(self, with_n_best: bool = False) -> dict:
        data = {
            "answer": self.answer,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "no_answer": self.is_impossible,
            "null_score_diff": round(self.null_score_diff, 4),
        }
        if with_n_best:
            data["n_best"] = [
                {
                    "answer": c.text,
                    "start": c.start,
                    "end": c.end,
                    "score": round(c.score, 4),
                    "probability": round(c.probability, 4),
                }
                for c in self.n_best
            ]
        return data


def decode_predictions(
    windows: Sequence[Window],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    contexts: Sequence[str],
    *,
    n_best: int = DEFAULT_N_BEST,
    max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH,
    allow_no_answer: bool = False,
    null_threshold: float = 0.0,
) -> list[QAPrediction]:
    """One prediction per context (question), from the scores of all its windows.

    `start_logits[w]` / `end_logits[w]` are window w's scores over its tokens, shape (T_w,)
    (padding beyond the window's length is ignored).
    """
    if n_best < 1 or max_answer_length < 1:
        raise InputError("n_best and max_answer_length must be at least 1")
    if not len(windows) == len(start_logits) == len(end_logits):
        raise InputError("need one start and one end score vector per window")
    windows_of: list[list[int]] = [[] for _ in contexts]
    for index, window in enumerate(windows):
        windows_of[window.example_index].append(index)
    predictions = []
    for example_index, context in enumerate(contexts):
        if not windows_of[example_index]:
            raise InputError(f"question {example_index} has no windows to decode")
        candidates: dict[tuple[int, int], float] = {}
        null_score = math.inf
        for index in windows_of[example_index]:
            window = windows[index]
            start = np.asarray(start_logits[index], dtype=np.float64)[: len(window.input_ids)]
            end = np.asarray(end_logits[index], dtype=np.float64)[: len(window.input_ids)]
            null_score = min(null_score, float(start[0] + end[0]))
            _window_candidates(window, start, end, n_best, max_answer_length, candidates)
        predictions.append(
            _choose(context, candidates, null_score, n_best, allow_no_answer, null_threshold)
        )
    return predictions


def _window_candidates(
    window: Window,
    start: np.ndarray,
    end: np.ndarray,
    n_best: int,
    max_answer_length: int,
    candidates: dict[tuple[int, int], float],
) -> None:
    """Add the window's best (start, end) token pairs to `candidates`, keyed by char span."""
    positions = np.array([i for i, span in enumerate(window.context_spans) if span is not None])
    if positions.size == 0:
        return
    best_starts = positions[np.argsort(-start[positions], kind="stable")[:n_best]]
    best_ends = positions[np.argsort(-end[positions], kind="stable")[:n_best]]
    pair_scores = start[best_starts][:, None] + end[best_ends][None, :]  # (n_best, n_best)
    length = best_ends[None, :] - best_starts[:, None]  # end - start, in tokens
    valid = (length >= 0) & (length < max_answer_length)
    rows, columns = np.nonzero(valid)
    if rows.size == 0:
        # Every top start lies after every top end: take the best valid pair of the window.
        pairs = [_best_valid_pair(positions, start, end, max_answer_length)]
    else:
        # Only the window's n_best best pairs can reach the final n-best list.
        keep = np.argsort(-pair_scores[rows, columns], kind="stable")[:n_best]
        pairs = [(best_starts[rows[k]], best_ends[columns[k]]) for k in keep]
    for start_token, end_token in pairs:
        span = (window.context_spans[start_token][0], window.context_spans[end_token][1])
        score = float(start[start_token] + end[end_token])
        if score > candidates.get(span, -math.inf):
            candidates[span] = score


def _best_valid_pair(
    positions: np.ndarray, start: np.ndarray, end: np.ndarray, max_answer_length: int
) -> tuple[int, int]:
    """The highest-scoring (start, end) over all pairs within the length limit."""
    best, best_score = (positions[0], positions[0]), -math.inf
    for offset, start_token in enumerate(positions):
        ends = positions[offset : offset + max_answer_length]
        ends = ends[ends < start_token + max_answer_length]
        end_token = ends[np.argmax(end[ends])]
        score = start[start_token] + end[end_token]
        if score > best_score:
            best, best_score = (start_token, end_token), score
    return best


def _choose(
    context: str,
    candidates: dict[tuple[int, int], float],
    null_score: float,
    n_best: int,
    allow_no_answer: bool,
    null_threshold: float,
) -> QAPrediction:
    ranked = sorted(candidates.items(), key=lambda item: -item[1])[:n_best]
    scores = [score for _, score in ranked] + ([null_score] if allow_no_answer else [])
    probabilities = _softmax(scores)
    best = [
        Candidate(context[start:end], start, end, score, probability)
        for ((start, end), score), probability in zip(ranked, probabilities, strict=False)
    ]
    if not best:
        return QAPrediction("", None, None, null_score, math.inf, True, [])
    top = best[0]
    null_score_diff = null_score - top.score
    if allow_no_answer and null_score_diff > null_threshold:
        return QAPrediction("", None, None, null_score, null_score_diff, True, best)
    return QAPrediction(top.text, top.start, top.end, top.score, null_score_diff, False, best)


def _softmax(scores: list[float]) -> list[float]:
    if not scores:
        return []
    values = np.asarray(scores, dtype=np.float64)
    values = np.exp(values - values.max())
    return (values / values.sum()).tolist()
