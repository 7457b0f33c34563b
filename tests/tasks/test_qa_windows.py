"""Windowing with doc stride, answer labels through offsets, and n-best decoding across windows.

The scores fed to the decoder are constructed by hand (no model), so each case checks that a
token span maps back to exactly the right characters of the context.
"""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.errors import InputError
from bertkit.tasks.qa.decode import decode_predictions
from bertkit.tasks.qa.features import Window, build_windows, collate_windows, count_unreachable
from bertkit.tasks.qa.generate import generate
from bertkit.tasks.qa.squad import Answer

QUESTION = "where is the fox?"
LOW, HIGH = -10.0, 10.0


def scores(windows, marks):
    """Start/end score vectors: LOW everywhere, `marks[w] = [(start, end, value), ...]`."""
    starts, ends = [], []
    for index, window in enumerate(windows):
        start = np.full(len(window.input_ids), LOW)
        end = np.full(len(window.input_ids), LOW)
        for start_token, end_token, value in marks.get(index, []):
            start[start_token] = max(start[start_token], value)
            end[end_token] = max(end[end_token], value)
        starts.append(start)
        ends.append(end)
    return starts, ends


def context_positions(window: Window) -> list[int]:
    return [index for index, span in enumerate(window.context_spans) if span is not None]


def assert_exact_substring(prediction, context):
    assert prediction.start is not None
    assert context[prediction.start : prediction.end] == prediction.answer
    for candidate in prediction.n_best:
        assert context[candidate.start : candidate.end] == candidate.text


def test_answer_straddling_a_window_boundary(tiny_tokenizer):
    context = " ".join(["the quick brown fox jumps over the lazy dog"] * 4)
    windows = build_windows(
        tiny_tokenizer, [QUESTION], [context], max_length=32, doc_stride=8, max_question_length=12
    )
    assert len(windows) >= 3
    first, second = windows[0], windows[1]
    boundary = context_positions(first)[-1]  # last context token of window 0
    start_char = first.context_spans[boundary - 2][0]
    # The token two places after the boundary: it exists only in window 1.
    boundary_in_second = next(
        i for i, span in enumerate(second.context_spans) if span == first.context_spans[boundary]
    )
    end_char = second.context_spans[boundary_in_second + 2][1]
    answer = Answer(context[start_char:end_char], start_char)
    assert len(answer.text.split()) >= 2

    labelled = build_windows(
        tiny_tokenizer,
        [QUESTION],
        [context],
        [answer],
        max_length=32,
        doc_stride=8,
        max_question_length=12,
    )
    assert (labelled[0].start_position, labelled[0].end_position) == (0, 0)  # only part in it
    start, end = labelled[1].start_position, labelled[1].end_position
    assert labelled[1].context_spans[start][0] == start_char
    assert labelled[1].context_spans[end][1] == end_char

    # Window 0 favours the cut-off part of the answer, window 1 the whole answer, higher.
    marks = {0: [(boundary - 2, boundary, 8.0)], 1: [(start, end, 9.0)]}
    prediction = decode_predictions(labelled, *scores(labelled, marks), [context])[0]
    assert prediction.answer == answer.text
    assert (prediction.start, prediction.end) == (start_char, end_char)
    assert_exact_substring(prediction, context)
    partial = context[start_char : first.context_spans[boundary][1]]
    assert partial in [candidate.text for candidate in prediction.n_best]


def test_answer_at_the_very_end_of_a_long_context(tiny_tokenizer):
    context = "a fox jumps over a lazy dog and " * 6 + "it was the quick brown fox"
    answer = Answer("quick brown fox", len(context) - len("quick brown fox"))
    windows = build_windows(
        tiny_tokenizer,
        [QUESTION],
        [context],
        [answer],
        max_length=24,
        doc_stride=6,
        max_question_length=12,
    )
    assert len(windows) >= 4
    labelled = [w for w in windows if w.start_position > 0]
    assert labelled == [windows[-1]]
    last = windows[-1]
    assert last.context_spans[last.end_position][1] == len(context)
    marks = {len(windows) - 1: [(last.start_position, last.end_position, HIGH)]}
    prediction = decode_predictions(windows, *scores(windows, marks), [context])[0]
    assert prediction.answer == "quick brown fox" and prediction.end == len(context)
    assert_exact_substring(prediction, context)


@pytest.mark.parametrize("answer_text", ["quick brown fox", "Köln", "São Paulo 😀 before"])
def test_non_ascii_text_before_the_answer(tiny_tokenizer, answer_text):
    context = "Zoë visited Köln, 東京 and São Paulo 😀 before the quick brown fox jumps."
    answer = Answer(answer_text, context.index(answer_text))
    windows = build_windows(
        tiny_tokenizer,
        [QUESTION],
        [context],
        [answer],
        max_length=32,
        doc_stride=6,
        max_question_length=12,
    )
    assert len(windows) >= 2
    marks = {
        index: [(w.start_position, w.end_position, HIGH)]
        for index, w in enumerate(windows)
        if w.start_position > 0
    }
    assert marks, "the answer must lie wholly inside some window"
    prediction = decode_predictions(windows, *scores(windows, marks), [context])[0]
    assert prediction.answer == answer_text  # original accents and case, not the normalised
    assert (prediction.start, prediction.end) == (answer.start, answer.end)
    assert_exact_substring(prediction, context)


def test_unanswerable_question_and_null_threshold(tiny_tokenizer):
    context = "the lazy dog is in paris and the quick fox is in london " * 3
    windows = build_windows(
        tiny_tokenizer,
        [QUESTION],
        [context],
        [None],
        max_length=32,
        doc_stride=8,
        max_question_length=12,
    )
    assert len(windows) >= 2
    assert all((w.start_position, w.end_position) == (0, 0) for w in windows)
    span_token = context_positions(windows[1])[3]
    # Null score 2 * 6 in every window but window 1, which prefers a span with 2 * 4.
    marks = {index: [(0, 0, 6.0)] for index in range(len(windows))}
    marks[1] = [(0, 0, 3.0), (span_token, span_token, 4.0)]
    starts, ends = scores(windows, marks)
    contexts = [context]

    [with_null] = decode_predictions(windows, starts, ends, contexts, allow_no_answer=True)
    # The null score is the smallest over the windows (2 * 3), below the span's 2 * 4.
    assert not with_null.is_impossible
    marks[1] = [(0, 0, 5.0), (span_token, span_token, 4.0)]
    starts, ends = scores(windows, marks)
    [empty] = decode_predictions(windows, starts, ends, contexts, allow_no_answer=True)
    assert empty.is_impossible and empty.answer == "" and empty.start is None
    assert empty.null_score_diff == pytest.approx(2.0)
    [lenient] = decode_predictions(
        windows, starts, ends, contexts, allow_no_answer=True, null_threshold=2.5
    )
    assert (
        not lenient.is_impossible
        and lenient.answer == context[slice(*windows[1].context_spans[span_token])]
    )
    [v1] = decode_predictions(windows, starts, ends, contexts, allow_no_answer=False)
    assert v1.answer == lenient.answer  # SQuAD v1 never answers ""
    assert_exact_substring(v1, context)


def test_max_answer_length_and_start_after_end(tiny_tokenizer):
    context = "the quick brown fox jumps over the lazy dog"
    [window] = build_windows(
        tiny_tokenizer, [QUESTION], [context], max_length=64, max_question_length=16, doc_stride=8
    )
    positions = context_positions(window)
    first, last = positions[0], positions[-1]
    starts, ends = scores([window], {0: [(first, last, HIGH)]})
    starts[0][positions[4]] = 5.0  # "jumps"
    ends[0][positions[5]] = 5.0  # "over"
    [long_allowed] = decode_predictions([window], starts, ends, [context], max_answer_length=30)
    assert long_allowed.answer == context
    [short] = decode_predictions([window], starts, ends, [context], max_answer_length=3)
    assert short.answer == "jumps over"
    # The best start lies after the best end: the best valid pair is still found.
    starts, ends = scores([window], {0: [(positions[6], positions[2], HIGH)]})
    [fallback] = decode_predictions([window], starts, ends, [context], n_best=1)
    assert fallback.answer and fallback.start is not None
    assert_exact_substring(fallback, context)


def test_generated_answers_round_trip_through_windows(tiny_tokenizer):
    """Labels -> scores -> decoding gives back every gold answer exactly, over many contexts
    with accented names, at windows of 40 tokens."""
    examples = generate("test", 6, seed=5, unanswerable=0.25)
    answers = [example.answers[0] if example.answers else None for example in examples]
    windows = build_windows(
        tiny_tokenizer,
        [e.question for e in examples],
        [e.context for e in examples],
        answers,
        max_length=40,
        doc_stride=16,
        max_question_length=16,
    )
    assert len(windows) > 3 * len(examples)  # contexts really are split
    assert count_unreachable(windows, [a is not None for a in answers]) == 0
    marks = {
        index: [(w.start_position, w.end_position, HIGH)]
        for index, w in enumerate(windows)
        if w.start_position > 0
    }
    for index in range(len(windows)):
        marks.setdefault(index, [(0, 0, 0.0)])
    predictions = decode_predictions(
        windows, *scores(windows, marks), [e.context for e in examples], allow_no_answer=True
    )
    for example, prediction in zip(examples, predictions, strict=True):
        if example.is_impossible:
            assert prediction.answer == ""
        else:
            assert prediction.answer == example.answers[0].text
            assert prediction.start == example.answers[0].start
            assert_exact_substring(prediction, example.context)


def test_long_questions_are_cut_and_bad_settings_rejected(tiny_tokenizer):
    question = "where is the quick brown fox " * 10
    windows = build_windows(
        tiny_tokenizer,
        [question],
        ["the dog"],
        max_length=32,
        max_question_length=6,
        doc_stride=4,
    )
    assert windows[0].token_type_ids.count(0) == 6 + 2  # [CLS] 6 question tokens [SEP]
    with pytest.raises(InputError, match="doc stride 30"):
        build_windows(
            tiny_tokenizer, ["q"], ["c"], max_length=32, doc_stride=30, max_question_length=6
        )
    with pytest.raises(InputError, match="no room for context"):
        build_windows(tiny_tokenizer, ["q"], ["c"], max_length=32, max_question_length=40)


def test_collate_pads_and_keeps_labels(tiny_tokenizer):
    windows = build_windows(
        tiny_tokenizer,
        ["where?", "is the fox?"],
        ["the dog", "the quick brown fox"],
        [Answer("dog", 4), Answer("fox", 16)],
        max_length=32,
        doc_stride=4,
        max_question_length=8,
    )
    items = [w.as_training_item() | {"example_seed": 7} for w in windows]
    batch = collate_windows(items, tiny_tokenizer.pad_token_id)
    width = max(len(w.input_ids) for w in windows)
    assert batch["input_ids"].shape == (2, width)
    assert batch["attention_mask"].sum().item() == sum(len(w.input_ids) for w in windows)
    assert batch["start_positions"].tolist() == [w.start_position for w in windows]
    assert all(position > 0 for position in batch["end_positions"].tolist())
