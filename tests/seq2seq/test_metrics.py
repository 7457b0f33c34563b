"""Corpus BLEU: the standard formula by hand, sacreBLEU's 13a tokenization, and (when the
sacrebleu package is installed) equality with sacreBLEU on random corpora."""

from __future__ import annotations

import math
import random

import pytest

from bertkit.errors import InputError
from bertkit.seq2seq.metrics import corpus_bleu, exact_match, sequence_metrics, tokenize_13a


def test_bleu_by_hand():
    # hypothesis 6 tokens, reference 7: matches 1-gram 5/6, 2-gram 3/5, 3-gram 2/4, 4-gram 1/3.
    hyp, ref = "the cat sat on a mat", "the cat sat on the red mat"
    precisions = [5 / 6, 3 / 5, 2 / 4, 1 / 3]
    expected = math.exp(1 - 7 / 6) * math.exp(sum(math.log(p) for p in precisions) / 4) * 100
    result = corpus_bleu([hyp], [ref])
    assert result["bleu"] == pytest.approx(expected)
    assert result["brevity_penalty"] == pytest.approx(math.exp(1 - 7 / 6))
    assert corpus_bleu([ref], [ref])["bleu"] == pytest.approx(100.0)


def test_bleu_edge_cases():
    assert corpus_bleu(["completely different words here"], ["the cat sat on mat"])["bleu"] == 0
    assert corpus_bleu([""], ["the cat"])["bleu"] == 0.0
    # No 4-gram matches: sacreBLEU's "exp" smoothing counts half a match.
    result = corpus_bleu(["a b c x e f"], ["a b c d e f"])
    assert result["precision_4"] == pytest.approx(100 / (2 * 3))
    with pytest.raises(InputError, match="got 1 outputs but 2 references"):
        corpus_bleu(["a"], ["a", "b"])


def test_13a_tokenization():
    assert tokenize_13a("Hello, world! It costs $3.50.") == [
        "Hello",
        ",",
        "world",
        "!",
        "It",
        "costs",
        "$",
        "3.50",
        ".",
    ]
    assert tokenize_13a("1,000 &quot;x&quot; 12-3") == ["1,000", '"', "x", '"', "12", "-", "3"]


def test_equals_sacrebleu_on_random_corpora():
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(0)
    words = "the cat sat on mat a dog ran , . ! it is 3.5 don't".split()
    for _ in range(100):
        count = rng.randint(1, 5)
        refs = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(count)]
        hyps = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(count)]
        assert corpus_bleu(hyps, refs)["bleu"] == pytest.approx(
            sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9
        )


def test_sequence_metrics():
    scores = sequence_metrics("bleu", ["3 2 1", "1 2 3"], ["3 2 1", "3 2 1"])
    assert scores == {"bleu": 0.0, "exact_match": 50.0}  # 3-token outputs have no 4-grams
    rouge = sequence_metrics("rouge", ["the cat sat"], ["the cat sat"])
    assert rouge["rougeL"] == pytest.approx(100.0) and rouge["exact_match"] == 100.0
    assert exact_match(["a  b"], ["a b"]) == 100.0
