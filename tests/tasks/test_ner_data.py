"""Reading CoNLL and JSONL NER files, and the errors bad files get."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.tasks.ner.data import check_tags, label_set, read_ner_file

CONLL = (
    "-DOCSTART- -X- O O\n"
    "\n"
    "Alice\tNNP\tB-PER\n"
    "visited\tVBD\tO\n"
    "New\tNNP\tB-LOC\n"
    "York\tNNP\tI-LOC\n"
    "\t\n"  # whitespace-only separator, as in the WNUT file
    "Bob  O\n"
    "\n"
    "\n"
    "-DOCSTART- -X- O O\n"
    "Acme B-ORG\n"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_sentences_tags_in_last_column_and_docstart_skipped(tmp_path):
    sentences = read_ner_file(write(tmp_path, "a.conll", CONLL))
    assert [s.words for s in sentences] == [["Alice", "visited", "New", "York"], ["Bob"], ["Acme"]]
    assert [s.tags for s in sentences] == [["B-PER", "O", "B-LOC", "I-LOC"], ["O"], ["B-ORG"]]
    assert sentences[0].lines == [3, 4, 5, 6]
    assert sentences[2].lines == [12]


def test_conll_line_without_tag_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.conll", "Alice B-PER\nvisited\n")
    with pytest.raises(InputError, match=r"bad\.conll:2: .*'visited'.* no tag"):
        read_ner_file(path)


def test_conll_tab_line_with_empty_tag_is_an_error(tmp_path):
    path = write(tmp_path, "bad.conll", "Alice\tB-PER\nvisited\t\n")
    with pytest.raises(InputError, match=r"bad\.conll:2:"):
        read_ner_file(path)


def test_jsonl_sentences(tmp_path):
    lines = [
        {"tokens": ["Alice", "runs"], "tags": ["B-PER", "O"]},
        {"tokens": ["Paris"], "ner_tags": ["B-LOC"]},
    ]
    path = write(tmp_path, "a.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    sentences = read_ner_file(path)
    assert [s.words for s in sentences] == [["Alice", "runs"], ["Paris"]]
    assert [s.tags for s in sentences] == [["B-PER", "O"], ["B-LOC"]]
    assert sentences[1].lines == [2]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"tokens": ["a", "b"], "tags": ["O"]}', "2 tokens but 1 tags"),
        ('{"tokens": ["a"], "tags": [0]}', "tag names"),
        ('{"tokens": "a b", "tags": ["O"]}', "list of non-empty strings"),
        ('{"tokens": ["a"], "tags": ["O"]', "invalid JSON"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "bad.jsonl", '{"tokens": ["x"], "tags": ["O"]}\n' + line + "\n")
    with pytest.raises(InputError, match=rf"bad\.jsonl:2: .*{message}"):
        read_ner_file(path)


def test_tag_outside_label_set_names_file_and_line(tmp_path):
    sentences = read_ner_file(write(tmp_path, "dev.conll", "Alice B-PER\nin O\nParis B-GPE\n"))
    with pytest.raises(InputError, match=r"dev\.conll:3: tag 'B-GPE' is not in the model's label"):
        check_tags(sentences, ["O", "B-PER", "I-PER"])


def test_non_bio_tag_is_an_error(tmp_path):
    sentences = read_ner_file(write(tmp_path, "x.conll", "Alice S-PER\n"))
    with pytest.raises(InputError, match=r"x\.conll:1: tag 'S-PER' is not a BIO/IOB2 tag"):
        label_set(sentences)


def test_label_set_has_both_prefixes_of_every_type(tmp_path):
    sentences = read_ner_file(write(tmp_path, "a.conll", CONLL))
    assert label_set(sentences) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_missing_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_ner_file(tmp_path / "nope.conll")
    with pytest.raises(InputError, match="no sentences"):
        read_ner_file(write(tmp_path, "empty.conll", "\n\n"))
    path = tmp_path / "latin1.conll"
    path.write_bytes(b"Alice O\nCaf\xe9 O\n")
    with pytest.raises(InputError, match=r"latin1\.conll, line 2: not UTF-8"):
        read_ner_file(path)
