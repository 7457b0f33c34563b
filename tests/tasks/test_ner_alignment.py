"""Word -> first-WordPiece labels, words without pieces, and windows over long sentences."""

from __future__ import annotations

import random

import pytest

from bertkit.errors import InputError
from bertkit.model.heads import IGNORE_INDEX
from bertkit.tasks.ner.alignment import (
    Collator,
    build_features,
    owning_windows,
    window_spans,
    word_pieces,
)


def test_label_on_first_piece_only(tiny_tokenizer):
    words = ["alice", "runs", "in", "paris"]
    (feature,) = build_features(tiny_tokenizer, [words], 64, [[1, 0, 0, 3]])
    tokens = tiny_tokenizer.convert_ids_to_tokens(feature.input_ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens[1:6] == ["a", "##l", "##i", "##c", "##e"]
    labelled = {tokens[i]: label for i, label in enumerate(feature.labels) if label != IGNORE_INDEX}
    assert labelled == {"a": 1, "run": 0, "in": 0, "paris": 3} or labelled == {
        "a": 1,
        "r": 0,
        "in": 0,
        "paris": 3,
    }
    assert sum(label != IGNORE_INDEX for label in feature.labels) == len(words)
    assert [tokens[p] for p in feature.word_positions][2:] == ["in", "paris"]


def test_word_without_pieces_gets_unk_and_keeps_its_label(tiny_tokenizer):
    words = ["alice", "\u200b", "paris"]  # zero-width space: the normaliser deletes it
    pieces = word_pieces(tiny_tokenizer, [words])[0]
    assert pieces[1] == [tiny_tokenizer.unk_token_id]
    (feature,) = build_features(tiny_tokenizer, [words], 64, [[1, 2, 3]])
    assert feature.labels[feature.word_positions[1]] == 2
    assert feature.input_ids[feature.word_positions[1]] == tiny_tokenizer.unk_token_id


def test_matches_transformers_first_subword_alignment(tiny_tokenizer, tmp_path):
    transformers = pytest.importorskip("transformers")
    tiny_tokenizer.save(tmp_path)
    reference = transformers.BertTokenizerFast.from_pretrained(str(tmp_path))
    words = ["alice's", "new", "york", "city", "runs", "quickly", "!", "bert"]
    encoded = reference(words, is_split_into_words=True)
    firsts, previous = [], None
    for position, word in enumerate(encoded.word_ids()):
        if word is not None and word != previous:
            firsts.append(position)
        previous = word
    (feature,) = build_features(tiny_tokenizer, [words], 64)
    assert feature.input_ids == encoded["input_ids"]
    assert feature.word_positions == firsts


@pytest.mark.parametrize("seed", range(20))
def test_windows_cover_every_word_once_within_capacity(seed):
    rng = random.Random(seed)
    counts = [rng.randint(1, 6) for _ in range(rng.randint(1, 60))]
    capacity, overlap = rng.randint(6, 20), rng.randint(0, 8)
    spans = window_spans(counts, capacity, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == len(counts)
    for (start, end), (next_start, next_end) in zip(spans, spans[1:], strict=False):
        assert start < next_start <= end < next_end  # progress, no gap
        shared = sum(counts[next_start:end])
        assert shared <= overlap
    for start, end in spans:
        assert sum(counts[start:end]) <= capacity
    owners = owning_windows(spans, counts, len(counts))
    for word, owner in enumerate(owners):
        start, end = spans[owner]
        assert start <= word < end


def test_owner_is_the_window_with_most_context():
    counts = [1] * 10
    spans = window_spans(counts, capacity=6, overlap=4)
    assert spans[:2] == [(0, 6), (2, 8)]
    owners = owning_windows(spans, counts, 10)
    # word 5 is the last word of window 0 (no right context) but central in window 1
    assert owners[5] == 1 and owners[0] == 0


def test_long_sentence_windows_label_each_word_once(tiny_tokenizer):
    words = ["alice", "runs", "in", "paris", "and", "london"] * 8
    tags = [[index % 5 for index in range(len(words))]]
    features = build_features(tiny_tokenizer, [words], max_length=16, tag_ids=tags, overlap=4)
    assert len(features) > 2
    seen = []
    for feature in features:
        assert len(feature.input_ids) <= 16
        for offset, position in enumerate(feature.word_positions):
            if feature.owned[offset]:
                word = feature.word_start + offset
                seen.append(word)
                assert feature.labels[position] == tags[0][word]
        assert sum(label != IGNORE_INDEX for label in feature.labels) == sum(feature.owned)
    assert sorted(seen) == list(range(len(words)))


def test_word_longer_than_a_window_is_cut(tiny_tokenizer):
    words = ["a", "supercalifragilistic", "b"]
    features = build_features(tiny_tokenizer, [words], max_length=6, tag_ids=[[0, 1, 0]])
    assert all(len(feature.input_ids) <= 6 for feature in features)
    owned = sorted(
        f.word_start + i for f in features for i, is_owned in enumerate(f.owned) if is_owned
    )
    assert owned == [0, 1, 2]


def test_bad_lengths_are_errors(tiny_tokenizer):
    with pytest.raises(InputError, match="at least 3"):
        build_features(tiny_tokenizer, [["a"]], max_length=2)
    with pytest.raises(InputError, match="negative"):
        build_features(tiny_tokenizer, [["a"]], max_length=8, overlap=-1)


def test_collator_pads_ids_mask_and_labels():
    batch = Collator(pad_token_id=0)(
        [
            {"input_ids": [2, 7, 3], "labels": [-100, 4, -100], "example_seed": 1},
            {"input_ids": [2, 3], "labels": [-100, -100], "example_seed": 2},
        ]
    )
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 4, -100], [-100, -100, -100]]
