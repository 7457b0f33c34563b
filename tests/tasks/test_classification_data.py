"""Reading labelled files, label sets, batching and metrics for text classification."""

from __future__ import annotations

import bz2
import csv
import io
import json
import random

import numpy as np
import pytest
import torch

from bertkit.datasets import _build_rotten_tomatoes, split_of
from bertkit.errors import InputError
from bertkit.tasks.classification.data import (
    EncodedExamples,
    balanced_class_weights,
    collate,
    label_ids,
    label_set,
    load_labelled,
)
from bertkit.tasks.classification.evaluate import classification_report, format_report

ROWS = [
    ("a good movie", "it was new", "positive"),
    ("the bad dog", "in london", "negative"),
    ("very good", "new york city", "positive"),
]


def write_csv(path, rows, header=("text", "pair", "label"), delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


def test_csv_tsv_and_jsonl_read_the_same(tmp_path):
    csv_file = write_csv(tmp_path / "d.csv", ROWS)
    tsv_file = write_csv(tmp_path / "d.tsv", ROWS, delimiter="\t")
    jsonl_file = write_jsonl(
        tmp_path / "d.jsonl", [{"text": t, "pair": p, "label": y} for t, p, y in ROWS]
    )
    results = [load_labelled(f, pair_column="pair") for f in (csv_file, tsv_file, jsonl_file)]
    for data in results:
        assert data.texts == [row[0] for row in ROWS]
        assert data.pairs == [row[1] for row in ROWS]
        assert data.labels == [row[2] for row in ROWS]
    assert results[0].lines == [2, 3, 4]
    assert results[2].lines == [1, 2, 3]


def test_quoted_multiline_csv_keeps_line_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"two\nlines",a\nnext,b\n', encoding="utf-8")
    data = load_labelled(str(path))
    assert data.texts == ["two\nlines", "next"]
    assert data.lines == [2, 4]


def test_missing_label_column_names_file_line_and_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", [r[:2] for r in ROWS], header=("text", "pair"))
    with pytest.raises(InputError, match=r"d\.csv, line 2: no column 'label' \(columns: 'text'"):
        load_labelled(path)


def test_tab_separated_file_named_csv_points_at_the_delimiter(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text\tlabel\ngood film\tpos\nbad film\tneg\n", encoding="utf-8")
    with pytest.raises(InputError, match="header was read as one column.*--format"):
        load_labelled(str(path))
    assert load_labelled(str(path), file_format="tsv").labels == ["pos", "neg"]


def test_binary_file_with_nul_bytes_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine,a\nbin\x00ary,b\n")
    with pytest.raises(InputError, match=r"line 3: NUL byte found; this looks like a binary"):
        load_labelled(str(path))


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine,a\ncaf\xe9 bad,b\n")
    with pytest.raises(InputError, match=r"line 3: not UTF-8 text \(byte 0xe9 cannot be decoded"):
        load_labelled(str(path))


def test_empty_text_rows_are_skipped_and_reported(tmp_path):
    path = write_csv(
        tmp_path / "d.csv",
        [("good", "a"), ("  ", "b"), ("bad", "b"), ("", "a")],
        header=("text", "label"),
    )
    data = load_labelled(path)
    assert data.texts == ["good", "bad"]
    assert data.skipped_lines == [3, 5]


def test_one_class_is_refused(tmp_path):
    path = write_csv(
        tmp_path / "d.csv", [("good", "pos"), ("fine", "pos")], header=("text", "label")
    )
    with pytest.raises(InputError, match=r"only one class \('pos', 2 rows\)"):
        label_set(load_labelled(path))


def test_integer_labels_sort_numerically_and_match_across_formats(tmp_path):
    records = [{"text": f"t{i}", "label": label} for i, label in enumerate([10, 2, 1, 2.0])]
    data = load_labelled(write_jsonl(tmp_path / "d.jsonl", records))
    assert label_set(data) == ["1", "2", "10"]
    csv_data = load_labelled(write_csv(tmp_path / "d.csv", [("x", "2")], header=("text", "label")))
    assert label_ids(csv_data, {"1": 0, "2": 1, "10": 2}) == [1]


def test_unseen_label_names_label_and_line(tmp_path):
    data = load_labelled(
        write_csv(tmp_path / "d.csv", [("x", "a"), ("y", "zzz")], header=("text", "label"))
    )
    with pytest.raises(InputError, match=r"line 3: label 'zzz' was not seen in training"):
        label_ids(data, {"a": 0, "b": 1})


def test_bad_json_line_and_unknown_extension(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: not valid JSON"):
        load_labelled(str(path))
    with pytest.raises(InputError, match=r"--format"):
        load_labelled(str(tmp_path / "d.parquet"))


def test_balanced_class_weights_follow_inverse_frequency():
    weights = balanced_class_weights([0, 0, 0, 1], 2)
    assert torch.allclose(weights, torch.tensor([4 / (2 * 3), 4 / (2 * 1)]))


def test_collate_pads_each_batch_to_its_longest_row(tiny_tokenizer, tmp_path):
    rng = random.Random(1)
    words = ["good", "bad", "movie", "the", "dog", "very"]
    rows = [(" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))), "a") for _ in range(9)]
    data = load_labelled(write_csv(tmp_path / "d.csv", rows, header=("text", "label")))
    examples = EncodedExamples(tiny_tokenizer, data, list(range(len(data))), max_length=16)
    lengths = examples.lengths()
    assert max(lengths) == 16 and min(lengths) < 16  # some rows truncated, some not

    picked = [examples[i] | {"example_seed": 7} for i in (0, 3, 5)]
    batch = collate(picked, tiny_tokenizer.pad_token_id)
    width = max(lengths[i] for i in (0, 3, 5))
    assert batch["input_ids"].shape == (3, width)
    assert batch["attention_mask"].sum(1).tolist() == [lengths[i] for i in (0, 3, 5)]
    assert batch["labels"].tolist() == [0, 3, 5]
    for row, index in enumerate((0, 3, 5)):
        length = lengths[index]
        assert batch["input_ids"][row, :length].tolist() == examples.input_ids[index]
        assert (batch["input_ids"][row, length:] == tiny_tokenizer.pad_token_id).all()
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}


def test_classification_report_matches_hand_computed_values():
    gold = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 0, 1]
    report = classification_report(gold, predicted, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    # a: P 2/3 R 2/3; b: P 1/3 R 1/2; c: never predicted -> 0.
    f1_b = 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    assert report["per_class"]["a"]["f1"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["precision"] == pytest.approx(1 / 3)
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx((2 / 3 + f1_b + 0) / 3)
    text = format_report(report)
    assert "accuracy  0.5000" in text and "confusion matrix" in text


def test_classification_report_agrees_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    gold, predicted = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    report = classification_report(gold, predicted, ["w", "x", "y", "z"])
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(gold, predicted, average="macro"))
    assert report["confusion_matrix"] == metrics.confusion_matrix(gold, predicted).tolist()


def test_rotten_tomatoes_build_follows_the_split_rule(tmp_path):
    rows = [("plot", "a synopsis")] + [
        ("fresh" if i % 3 else "rotten", f" review {i} ") for i in range(25)
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
    writer.writerows([(category, text, "m", "True") for category, text in rows])
    raw = tmp_path / "rt.csv.bz2"
    raw.write_bytes(bz2.compress(buffer.getvalue().encode("utf-8")))
    splits = _build_rotten_tomatoes(raw)
    assert [len(splits[name]) for name in ("train", "dev", "test")] == [19, 3, 3]
    assert splits["test"][0] == {"text": "review 0", "label": "negative"}
    assert splits["dev"][0] == {"text": "review 1", "label": "positive"}
    assert [split_of(i) for i in (0, 1, 2, 10, 11, 19)] == [
        "test",
        "dev",
        "train",
        "test",
        "dev",
        "train",
    ]


def test_a_very_long_csv_field_is_read_not_called_malformed(tmp_path):
    long_text = "a long review " * 20_000  # 280,000 characters, over csv's default limit
    path = tmp_path / "long.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), ("short", "pos"), (long_text, "neg")])
    assert load_labelled(str(path)).texts == ["short", long_text]
