"""Official-style SQuAD exact match and F1, v2 no-answer handling and the best threshold."""

from __future__ import annotations

import pytest

from bertkit.tasks.qa.metrics import (
    best_null_thresholds,
    best_over_gold,
    exact_match,
    f1_score,
    normalize_answer,
    squad_scores,
)


def test_normalisation_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("  The  Eiffel-Tower, in PARIS!  ") == "eiffeltower in paris"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # "the" only as a word


def test_exact_match_and_f1_by_hand():
    assert exact_match("the Tower", "tower") == 1.0
    assert exact_match("tower of London", "tower") == 0.0
    # pred tokens: tower of london (3), gold: tower (1); overlap 1 -> P 1/3, R 1 -> F1 0.5
    assert f1_score("tower of London", "tower") == pytest.approx(0.5)
    assert f1_score("red red blue", "red blue blue") == pytest.approx(2 / 3)
    assert f1_score("cat", "dog") == 0.0
    assert f1_score("", "") == 1.0 and f1_score("", "dog") == 0.0 and f1_score("a", "") == 1.0


def test_best_over_several_gold_answers_and_no_answer():
    assert best_over_gold("Denver Broncos", ["Broncos", "Denver Broncos"]) == (1.0, 1.0)
    exact, f1 = best_over_gold("the Denver team", ["Broncos", "Denver Broncos"])
    assert exact == 0.0 and f1 == pytest.approx(0.5)
    assert best_over_gold("", []) == (1.0, 1.0)  # unanswerable, predicted unanswerable
    assert best_over_gold("Paris", []) == (0.0, 0.0)


def test_report_with_has_answer_and_no_answer_parts():
    gold = {"a": ["Paris"], "b": ["tower", "the tower"], "c": [], "d": []}
    predictions = {"a": "Paris", "b": "tower of London", "c": "", "d": "Rome"}
    report = squad_scores(predictions, gold)
    assert report["total"] == 4
    assert report["exact"] == pytest.approx(100 * 2 / 4)
    assert report["f1"] == pytest.approx(100 * (1 + 0.5 + 1 + 0) / 4)
    assert report["HasAns_exact"] == pytest.approx(50.0)
    assert report["HasAns_f1"] == pytest.approx(75.0)
    assert report["NoAns_exact"] == pytest.approx(50.0) and report["NoAns_total"] == 2
    # A missing prediction scores zero.
    assert squad_scores({}, {"a": ["Paris"]})["exact"] == 0.0


def test_best_null_threshold_sweep():
    gold = {"a": ["Paris"], "b": ["Rome"], "c": [], "d": []}
    spans = {"a": "Paris", "b": "Oslo", "c": "Berlin", "d": "Madrid"}
    # Differences: right spans have low difference, the rest higher.
    diffs = {"a": -3.0, "b": 1.0, "c": 2.0, "d": 0.5}
    report = best_null_thresholds(spans, diffs, gold)
    # Threshold -3: a answered (right), b/c/d empty -> b wrong, c/d right: 3 of 4.
    assert report["best_exact"] == pytest.approx(75.0)
    assert report["best_exact_thresh"] == -3.0
    # Without a sweep, answering everything gets only a right.
    plain = squad_scores(spans, gold)
    assert plain["exact"] == pytest.approx(25.0)
