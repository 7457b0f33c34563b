"""Corpus formats, packing and the memory-mapped token cache."""

import gzip
import json

import numpy as np
import pytest

from bertkit.errors import InputError
from bertkit.pretraining import cache as cache_module
from bertkit.pretraining.cache import load_or_build, split_train_eval
from bertkit.pretraining.corpus import iter_documents, resolve_corpus
from bertkit.pretraining.packing import pack_sequences
from bertkit.tokenization import Tokenizer


def test_txt_documents_are_separated_by_blank_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("One line.\r\nTwo line.\n\n\n  Second doc.  \n\nThird.\n", encoding="utf-8")
    documents = list(iter_documents([path]))
    assert [d.lines for d in documents] == [["One line.", "Two line."], ["Second doc."], ["Third."]]


def test_gzip_jsonl_and_folders(tmp_path):
    (tmp_path / "docs").mkdir()
    with gzip.open(tmp_path / "docs" / "b.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("Zipped doc.\nStill zipped.\n")
    records = [{"text": "First record.\nSecond line."}, {"text": "Other record.", "id": 3}]
    (tmp_path / "docs" / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "docs" / "notes.md").write_text("ignored: not a corpus suffix")
    files = resolve_corpus([tmp_path / "docs"])
    assert [f.name for f in files] == ["a.jsonl", "b.txt.gz"]
    assert [d.lines for d in iter_documents(files)] == [
        ["First record.", "Second line."],
        ["Other record."],
        ["Zipped doc.", "Still zipped."],
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"good line\nbad \xff\xfe line\n", r"bad\.txt, line 2: not UTF-8"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", r"bad\.txt, line 1: NUL byte"),
    ],
)
def test_binary_or_non_utf8_file_names_the_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(iter_documents([path]))


def test_bad_jsonl_and_missing_files(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text field"}\n')
    with pytest.raises(InputError, match=r"a\.jsonl, line 2: expected a JSON object"):
        list(iter_documents([path]))
    with pytest.raises(InputError, match="not found"):
        resolve_corpus([tmp_path / "missing.txt"])
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(InputError, match="unsupported corpus file type"):
        resolve_corpus([tmp_path / "x.csv"])


def test_packing_fills_every_sequence_and_keeps_the_token_stream(corpus_file, tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    documents = list(iter_documents([corpus_file]))
    sequences = list(pack_sequences(documents, tokenizer, max_seq_length=32, lines_per_batch=7))
    assert all(len(s) == 32 for s in sequences[:-1]) and 3 <= len(sequences[-1]) <= 32
    assert all(
        s[0] == tokenizer.cls_token_id and s[-1] == tokenizer.sep_token_id for s in sequences
    )
    # The bodies, concatenated, are the documents' tokens with one [SEP] between documents.
    expected = []
    for number, document in enumerate(documents):
        if number:
            expected.append(tokenizer.sep_token_id)
        for line in document.lines:
            expected.extend(tokenizer(line, add_special_tokens=False)["input_ids"])
    bodies = [s[1:-1] for s in sequences]
    got = [int(t) for body in bodies for t in body]
    # A document boundary that falls at the start of a sequence drops that [SEP].
    assert [t for t in got if t != tokenizer.sep_token_id] == [
        t for t in expected if t != tokenizer.sep_token_id
    ]
    assert len(got) >= len(expected) - len(sequences)


def test_cache_is_built_once_and_reopened(corpus_file, tokenizer_dir, tmp_path, monkeypatch):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    first = load_or_build([corpus_file], tokenizer, 32, tmp_path, shard_rows=10)
    assert len(first.shards) > 1 and len(first) > 20
    expected = list(pack_sequences(iter_documents([corpus_file]), tokenizer, 32))
    assert all(np.array_equal(first.sequence(i), s) for i, s in enumerate(expected))

    def fail(*args, **kwargs):
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(cache_module, "pack_sequences", fail)
    again = load_or_build([corpus_file], tokenizer, 32, tmp_path, shard_rows=10)
    assert again.folder == first.folder
    assert np.array_equal(again.sequence(len(again) - 1), expected[-1])
    with pytest.raises(AssertionError, match="rebuilt"):  # another length is another cache
        load_or_build([corpus_file], tokenizer, 48, tmp_path)


def test_a_changed_corpus_gets_a_new_cache(corpus_file, tokenizer_dir, tmp_path):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    copy = tmp_path / "corpus.txt"
    copy.write_text(corpus_file.read_text())
    first = load_or_build([copy], tokenizer, 32, tmp_path / "cache")
    copy.write_text(corpus_file.read_text() + "\nOne more document.\n")
    second = load_or_build([copy], tokenizer, 32, tmp_path / "cache")
    assert first.folder != second.folder


def test_empty_corpus_is_an_error_and_leaves_no_cache(tmp_path, tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    with pytest.raises(InputError, match="holds no text"):
        load_or_build([empty], tokenizer, 32, tmp_path / "cache")
    leftovers = [
        p for p in (tmp_path / "cache" / "mlm-data").iterdir() if not p.name.endswith(".lock")
    ]
    assert leftovers == []


def test_held_out_split_is_disjoint_and_seeded():
    train, held = split_train_eval(1000, 0.05, max_eval=1000, seed=3)
    assert len(held) == 50 and len(train) == 950
    assert not set(train) & set(held)
    again, _ = split_train_eval(1000, 0.05, max_eval=1000, seed=3)
    assert np.array_equal(train, again)
    _, capped = split_train_eval(1000, 0.5, max_eval=20, seed=3)
    assert len(capped) == 20
