"""JSONL pairs: both layouts, clear errors naming file and line, truncation and collation."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.model import IGNORE_INDEX
from bertkit.seq2seq.data import EncodedPairs, PairFields, collate, encode_sources, read_pairs


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n", encoding="utf-8")
    return str(path)


def test_reads_plain_and_translation_layouts(tmp_path):
    plain = write_jsonl(tmp_path / "a.jsonl", [{"src": "hello world", "tgt": "the world"}])
    pairs = read_pairs(plain, PairFields(source_field="src", target_field="tgt"))
    assert (pairs.sources, pairs.targets, pairs.lines) == (["hello world"], ["the world"], [1])
    wmt = write_jsonl(
        tmp_path / "b.jsonl",
        [{"translation": {"de": "hallo welt", "en": "hello world"}}] * 2,
    )
    pairs = read_pairs(wmt, PairFields(source_lang="de", target_lang="en"))
    assert pairs.sources == ["hallo welt"] * 2 and pairs.targets == ["hello world"] * 2
    sources_only = read_pairs(wmt, PairFields(source_lang="en", target_lang="de"), False)
    assert sources_only.targets is None and sources_only.sources == ["hello world"] * 2


@pytest.mark.parametrize(
    "line, fields, message",
    [
        (
            '{"source": "a"}',
            PairFields(),
            r"bad\.jsonl, line 2: no target field 'target' "
            r"\(fields: 'source'\); choose the fields with --source-field",
        ),
        ('{"source": "a", "target": "  "}', PairFields(), "line 2: the target 'target' is empty"),
        ('{"source": 3, "target": "b"}', PairFields(), "line 2: the source 'source' must be a"),
        ('{"source": "a", "target": "b"', PairFields(), "line 2: not valid JSON"),
        ('["a", "b"]', PairFields(), "line 2: expected a JSON object"),
        (
            '{"translation": {"de": "a"}}',
            PairFields(source_lang="de", target_lang="en"),
            "line 2: no target field 'en'.*--source-lang/--target-lang",
        ),
        (
            '{"source": "a", "target": "b"}',
            PairFields(source_lang="de", target_lang="en"),
            'line 2: no "translation" object',
        ),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, line, fields, message):
    path = tmp_path / "bad.jsonl"
    good = (
        '{"source": "x", "target": "y"}'
        if fields.source_lang is None
        else ('{"translation": {"de": "x", "en": "y"}}')
    )
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_pairs(str(path), fields)


def test_other_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_pairs(str(tmp_path / "missing.jsonl"), PairFields())
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match="holds no records"):
        read_pairs(str(tmp_path / "empty.jsonl"), PairFields())
    (tmp_path / "latin1.jsonl").write_bytes(b'{"source": "caf\xe9", "target": "x"}\n')
    with pytest.raises(InputError, match="line 1: not UTF-8"):
        read_pairs(str(tmp_path / "latin1.jsonl"), PairFields())
    with pytest.raises(InputError, match="both --source-lang and --target-lang"):
        PairFields(source_lang="de")


def test_over_long_sources_are_refused_or_cut(tiny_tokenizer):
    texts = ["hello world", "the quick brown fox jumps over the lazy dog"]
    with pytest.raises(
        InputError,
        match=r"f\.jsonl, line 7: the source has 11 tokens, more "
        r"than the maximum of 6.*--truncate",
    ):
        encode_sources(tiny_tokenizer, texts, 6, truncate=False, lines=[3, 7], path="f.jsonl")
    ids, cut = encode_sources(tiny_tokenizer, texts, 6)
    assert cut == 1 and len(ids[1]) == 6 and ids[1][-1] == tiny_tokenizer.sep_token_id


def test_targets_become_labels_ending_in_sep(tmp_path, tiny_tokenizer):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"source": "hello", "target": "the dog"},
            {"source": "a b c", "target": "the quick brown fox jumps"},
        ],
    )
    encoded = EncodedPairs(tiny_tokenizer, read_pairs(path, PairFields()), 16, 4)
    sep = tiny_tokenizer.sep_token_id
    the, dog = tiny_tokenizer.token_to_id("the"), tiny_tokenizer.token_to_id("dog")
    assert encoded[0]["labels"] == [the, dog, sep]
    assert len(encoded[1]["labels"]) == 4 and encoded[1]["labels"][-1] == sep
    assert encoded.truncated_targets == 1 and encoded.truncated_sources == 0
    batch = collate([encoded[0], encoded[1]], tiny_tokenizer.pad_token_id)
    assert batch["labels"][0].tolist() == [the, dog, sep, IGNORE_INDEX]
    assert batch["attention_mask"].sum(1).tolist() == [3, 5]
