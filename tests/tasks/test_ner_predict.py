"""Word splitting with character offsets, and entities mapped back onto the original text."""

from __future__ import annotations

import pytest

from bertkit.tasks.ner import predict as predict_module
from bertkit.tasks.ner.dataset import split_of
from bertkit.tasks.ner.predict import EntityTagger, join_tokens, split_words
from bertkit.tasks.ner.tagging import TaggedWords


def words_of(text):
    return [text[start:end] for start, end in split_words(text)]


def test_split_words_like_bert_basic_tokenizer():
    assert words_of("  Hello,  wörld!\tNew-York ") == [
        "Hello",
        ",",
        "wörld",
        "!",
        "New",
        "-",
        "York",
    ]
    assert words_of("@user #tag http://x.co") == ["@", "user", "#", "tag", "http", ":", "/", "/",
                                                   "x", ".", "co"]  # fmt: skip
    assert words_of("中文字ab") == ["中", "文", "字", "ab"]
    assert words_of("") == []


def test_join_tokens_offsets():
    text, spans = join_tokens(["New", "York", "!"])
    assert text == "New York !"
    assert [text[start:end] for start, end in spans] == ["New", "York", "!"]


@pytest.fixture
def fake_tagger(monkeypatch, make_tiny_folder):
    """A tagger whose model output is replaced: words listed in TAGS get those tags."""
    tags = {"Zoë": "B-PER", "Smith": "I-PER", "São": "B-LOC", "Paulo": "I-LOC", "mess": "I-LOC"}
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]

    def fake_tag_words(model, tokenizer, sentences, **options):
        ids = [[labels.index(tags.get(word, "O")) for word in words] for words in sentences]
        return TaggedWords(ids, [[0.5] * len(words) for words in sentences], None)

    monkeypatch.setattr(predict_module, "tag_words", fake_tag_words)
    folder = make_tiny_folder("token-classification", labels=labels)
    return EntityTagger.from_pretrained(folder)


def test_entities_keep_exact_character_spans(fake_tagger):
    text = "  Zoë  Smith flew to São\u00a0Paulo, what a mess."
    entities = fake_tagger.predict(text)
    assert [(e.type, e.text) for e in entities] == [
        ("PER", "Zoë  Smith"),
        ("LOC", "São\u00a0Paulo"),
        ("LOC", "mess"),  # lenient BIO: a stray I- opens an entity
    ]
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
    assert fake_tagger.predict(["", text])[0] == []


def test_strict_iob2_drops_stray_inside_tags(fake_tagger):
    fake_tagger.scheme = "iob2"
    entities = fake_tagger.predict("what a mess")
    assert entities == []


def test_wnut_split_rule():
    assert [split_of(i) for i in range(12)] == ["test", "dev"] + ["train"] * 8 + ["test", "dev"]
