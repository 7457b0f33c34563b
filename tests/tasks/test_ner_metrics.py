"""Entity spans and entity-level scores, cross-checked against seqeval."""

from __future__ import annotations

import random

import pytest

from bertkit.errors import InputError
from bertkit.tasks.ner.metrics import Span, entity_scores, extract_spans, format_report


def test_spans_bio_lenient_and_iob2_strict():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-PER"]
    assert extract_spans(tags, "bio") == [
        Span("PER", 0, 2),
        Span("LOC", 3, 5),
        Span("LOC", 5, 6),
        Span("ORG", 6, 7),
        Span("PER", 7, 8),
    ]
    assert extract_spans(tags, "iob2") == [Span("PER", 0, 2), Span("LOC", 5, 6), Span("PER", 7, 8)]


def test_adjacent_entities_of_one_type_are_separate():
    assert extract_spans(["B-PER", "B-PER", "I-PER"]) == [Span("PER", 0, 1), Span("PER", 1, 3)]


def test_scores_per_type_and_overall():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-PER"], ["B-ORG", "B-LOC"]]
    report = entity_scores(gold, predicted)
    # gold: PER(0,2) LOC(3,4) ORG(0,1); predicted: PER(0,2) PER(3,4) ORG(0,1) LOC(1,2)
    assert (report.support, report.predicted) == (3, 4)
    assert report.precision == pytest.approx(2 / 4)
    assert report.recall == pytest.approx(2 / 3)
    assert report.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert report.per_type["PER"].precision == pytest.approx(0.5)
    assert report.per_type["PER"].recall == pytest.approx(1.0)
    assert report.per_type["LOC"].f1 == 0.0
    assert report.per_type["ORG"].f1 == 1.0
    assert report.token_accuracy == pytest.approx(4 / 6)
    assert "overall (micro)" in format_report(report)


def test_partial_span_is_wrong():
    report = entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert report.f1 == 0.0


def test_length_mismatch_and_bad_tags_are_errors():
    with pytest.raises(InputError, match="sentence 1"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(InputError, match="not a BIO"):
        extract_spans(["E-PER"])
    with pytest.raises(InputError, match="scheme"):
        extract_spans(["O"], "bioes")


def _random_tags(rng: random.Random, length: int) -> list[str]:
    choices = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    return [rng.choice(choices) for _ in range(length)]


@pytest.mark.parametrize("scheme", ["bio", "iob2"])
def test_matches_seqeval_on_random_sequences(scheme):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    from seqeval.scheme import IOB2

    rng = random.Random(7)
    gold = [_random_tags(rng, rng.randint(1, 12)) for _ in range(300)]
    predicted = [
        [tag if rng.random() < 0.7 else _random_tags(rng, 1)[0] for tag in tags] for tags in gold
    ]
    options = {"mode": "strict", "scheme": IOB2} if scheme == "iob2" else {}
    report = entity_scores(gold, predicted, scheme)
    assert report.precision == pytest.approx(
        seqeval_metrics.precision_score(gold, predicted, **options)
    )
    assert report.recall == pytest.approx(seqeval_metrics.recall_score(gold, predicted, **options))
    assert report.f1 == pytest.approx(seqeval_metrics.f1_score(gold, predicted, **options))
    per_type = seqeval_metrics.classification_report(gold, predicted, output_dict=True, **options)
    for name, score in report.per_type.items():
        assert score.f1 == pytest.approx(per_type[name]["f1-score"])
        assert score.support == per_type[name]["support"]
