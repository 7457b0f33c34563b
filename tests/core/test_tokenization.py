"""bertkit's WordPiece against transformers' BertTokenizerFast, loaded from the same folder.

In transformers 5 `BertTokenizerFast(vocab_file=...)` ignores the vocabulary file (it builds
a 5-token vocabulary), so the reference is always `BertTokenizerFast.from_pretrained(folder)`
of a folder holding vocab.txt + tokenizer_config.json, or tokenizer.json beside them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from bertkit.errors import InputError
from bertkit.tokenization import Tokenizer

from .tokenization_cases import HAND_PICKED, all_cases

transformers = pytest.importorskip("transformers")

COMPARED_KEYS = (
    "input_ids",
    "token_type_ids",
    "attention_mask",
    "offset_mapping",
    "special_tokens_mask",
)


def tokenizer_folder(source: Path, into: Path, files: list[str], **settings) -> Path:
    """A copy of `files` from `source` plus tokenizer_config.json updated with `settings`."""
    into.mkdir(parents=True)
    for name in files:
        shutil.copy(source / name, into / name)
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.update(settings)
    (into / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return into


def assert_same(ours, theirs, keys=COMPARED_KEYS, context=""):
    for key in keys:
        if key not in theirs:
            continue
        expected = theirs[key]
        expected = expected.tolist() if isinstance(expected, torch.Tensor) else expected
        got = ours[key]
        got = got.tolist() if isinstance(got, torch.Tensor) else got
        normalise = (
            (lambda rows: [[tuple(pair) for pair in row] for row in rows])
            if (key == "offset_mapping" and got and isinstance(got[0], list))
            else (lambda rows: rows)
        )
        assert normalise(got) == normalise(expected), f"{key} differs {context}"


@pytest.fixture(scope="module", params=["vocab.txt", "tokenizer.json"])
def tokenizer_pair(request, minilm_folder, tmp_path_factory):
    """(bertkit, transformers) tokenizers of MiniLM, from vocab.txt only or from tokenizer.json."""
    files = ["vocab.txt"] if request.param == "vocab.txt" else ["vocab.txt", "tokenizer.json"]
    folder = tokenizer_folder(minilm_folder, tmp_path_factory.mktemp("tok") / "m", files)
    ours = Tokenizer.from_pretrained(folder)
    theirs = transformers.BertTokenizerFast.from_pretrained(folder)
    assert len(theirs) == ours.vocab_size == 30522  # the reference really read the vocabulary
    return ours, theirs


def test_at_least_200_cases_cover_the_hard_categories():
    cases = all_cases()
    assert len(cases) >= 200
    assert "" in cases and "[MASK]" in cases and any(len(text) > 2000 for text in cases)


def test_single_texts_match(tokenizer_pair):
    ours, theirs = tokenizer_pair
    cases = all_cases()
    options = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    mine = ours(cases, **options)
    reference = theirs(cases, **options)
    for index, text in enumerate(cases):
        assert_same(
            {key: [value[index]] for key, value in mine.items()},
            {key: [value[index]] for key, value in reference.items()},
            context=f"for {text[:60]!r}",
        )
    assert max(len(ids) for ids in mine["input_ids"]) > 512  # long inputs really are long


def test_one_text_at_a_time_equals_the_batch(tokenizer_pair):
    ours, _ = tokenizer_pair
    cases = HAND_PICKED[:40]
    batch = ours(cases, return_offsets_mapping=True)
    for index, text in enumerate(cases):
        single = ours(text, return_offsets_mapping=True)
        assert single["input_ids"] == batch["input_ids"][index]
        assert single["offset_mapping"] == batch["offset_mapping"][index]


@pytest.mark.parametrize("strategy", ["longest_first", "only_second", "only_first"])
def test_pairs_with_truncation_match(tokenizer_pair, strategy):
    ours, theirs = tokenizer_pair
    cases = all_cases()
    # Pairs where both sides, or only one side, are long enough to be cut at max_length 48.
    firsts = cases[:120]
    seconds = list(reversed(cases))[:120]
    if strategy != "longest_first":
        # only_first/only_second raise when the other side alone overflows; keep it short.
        short = [text[:40] for text in cases[:120]]
        firsts, seconds = (firsts, short) if strategy == "only_first" else (short, seconds)
    options = dict(
        truncation=strategy,
        max_length=48,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    mine = ours(firsts, seconds, **options)
    reference = theirs(firsts, seconds, **options)
    for index in range(len(firsts)):
        assert_same(
            {k: [v[index]] for k, v in mine.items()},
            {k: [v[index]] for k, v in reference.items()},
            context=f"for pair {index}: {firsts[index][:30]!r} / {seconds[index][:30]!r}",
        )
    assert max(len(ids) for ids in mine["input_ids"]) == 48


@pytest.mark.parametrize("max_length,stride", [(16, 4), (64, 16), (512, 128)])
def test_overflowing_windows_with_stride_match(tokenizer_pair, max_length, stride):
    ours, theirs = tokenizer_pair
    texts = [text for text in all_cases() if text.strip()]
    options = dict(
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    mine = ours(texts, **options)
    reference = theirs(texts, **options)
    assert mine["overflow_to_sample_mapping"] == reference["overflow_to_sample_mapping"]
    assert len(mine["input_ids"]) > len(texts)  # some texts really did overflow
    assert_same(mine, reference)


def test_question_context_windows_match(tokenizer_pair):
    """The question-answering layout: question kept whole, context cut into strided windows."""
    ours, theirs = tokenizer_pair
    questions = ["Where is the [MASK]?", "Who wrote it?", "Qu'est-ce que c'est ?"]
    contexts = ["The quick brown fox. " * 40, "naïve café " * 70, HAND_PICKED[-1]]
    options = dict(
        truncation="only_second",
        max_length=64,
        stride=16,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=True,
    )
    mine = ours(questions, contexts, return_sequence_ids=True, **options)
    reference = theirs(questions, contexts, **options)
    assert mine["overflow_to_sample_mapping"] == reference["overflow_to_sample_mapping"]
    assert_same(mine, reference)
    for index in range(len(mine["input_ids"])):
        assert mine["sequence_ids"][index] == reference.sequence_ids(index)


def test_padding_and_tensors_match(tokenizer_pair):
    ours, theirs = tokenizer_pair
    texts = ["short", "a somewhat longer text with more words", ""]
    for padding, extra in [
        (True, {}),
        ("max_length", {"max_length": 20}),
        (True, {"pad_to_multiple_of": 8}),
    ]:
        mine = ours(texts, padding=padding, return_tensors="pt", **extra)
        reference = theirs(texts, padding=padding, return_tensors="pt", **extra)
        assert_same(mine, reference, keys=("input_ids", "token_type_ids", "attention_mask"))


def test_word_ids_match(tokenizer_pair):
    ours, theirs = tokenizer_pair
    texts = HAND_PICKED[:30]
    mine = ours(texts, return_word_ids=True)
    reference = theirs(texts)
    for index in range(len(texts)):
        assert mine["word_ids"][index] == reference.word_ids(index)


def test_decode_and_tokens_match(tokenizer_pair):
    ours, theirs = tokenizer_pair
    for text in HAND_PICKED[:40]:
        ids = theirs(text)["input_ids"]
        assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
        assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=True)
        assert ours.tokenize(text) == theirs.tokenize(text)


# ---- cased vocabularies and settings from tokenizer_config.json ---------------------------


@pytest.fixture(scope="module")
def cased_source(tmp_path_factory, tiny_vocab) -> Path:
    """A cased vocabulary (upper-case and accented entries) with do_lower_case false."""
    extra = [
        "Hello",
        "World",
        "BERT",
        "Paris",
        "É",
        "é",
        "##é",
        "Ö",
        "##ö",
        "ñ",
        "##ñ",
        "H",
        "W",
        "B",
        "P",
        "##L",
        "##O",
        "##E",
        "##R",
        "##T",
    ]
    folder = tmp_path_factory.mktemp("cased")
    (folder / "vocab.txt").write_text("\n".join(tiny_vocab + extra) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "BertTokenizer",
                "do_lower_case": False,
                "model_max_length": 64,
            }
        ),
        encoding="utf-8",
    )
    return folder


CASED_TEXTS = [
    "Hello World",
    "hello world",
    "HELLO BERT",
    "Élan é Ö ñ",
    "Paris PARIS paris",
    "cafe\u0301 CAFÉ",
    "[MASK] Hello",
]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"strip_accents": True},
        {"do_lower_case": True},
        {"do_lower_case": True, "strip_accents": False},
        {"tokenize_chinese_chars": False},
    ],
)
def test_cased_folder_from_vocab_and_from_tokenizer_json(cased_source, tmp_path, settings):
    vocab_only = tokenizer_folder(cased_source, tmp_path / "vocab", ["vocab.txt"], **settings)
    ours = Tokenizer.from_pretrained(vocab_only)
    theirs = transformers.BertTokenizerFast.from_pretrained(vocab_only)
    texts = CASED_TEXTS + ["中文 字"]
    assert_same(
        ours(texts, return_offsets_mapping=True), theirs(texts, return_offsets_mapping=True)
    )
    assert ours.do_lower_case == settings.get("do_lower_case", False)

    # bertkit's saved folder (tokenizer.json + settings) reads back identically, in both.
    saved = tmp_path / "saved"
    ours.save(saved)
    again = Tokenizer.from_pretrained(saved)
    reference_again = transformers.BertTokenizerFast.from_pretrained(saved)
    assert_same(again(texts), ours(texts))
    assert_same(reference_again(texts), ours(texts))


def test_tokenizer_config_overrides_tokenizer_json_like_transformers(minilm_folder, tmp_path):
    """tokenizer.json says lowercase; tokenizer_config.json says cased: the config wins."""
    folder = tokenizer_folder(
        minilm_folder, tmp_path / "m", ["tokenizer.json"], do_lower_case=False
    )
    ours = Tokenizer.from_pretrained(folder)
    theirs = transformers.BertTokenizerFast.from_pretrained(folder)
    texts = ["Hello World", "ÉCOLE"]
    assert_same(ours(texts), theirs(texts))
    assert not ours.do_lower_case
    assert (
        ours(texts[0])["input_ids"]
        != Tokenizer.from_pretrained(minilm_folder)(texts[0])["input_ids"]
    )


def test_max_length_defaults_to_model_max_length(tokenizer_pair):
    ours, theirs = tokenizer_pair
    text = "word " * 700
    mine = ours(text, truncation=True)
    assert len(mine["input_ids"]) == 512 == len(theirs(text, truncation=True)["input_ids"])


def test_bad_arguments_raise_clear_errors(tiny_tokenizer):
    with pytest.raises(InputError, match="truncation must be"):
        tiny_tokenizer("a", truncation="sometimes")
    with pytest.raises(InputError, match="padding must be"):
        tiny_tokenizer("a", padding="sideways")
    with pytest.raises(InputError, match="text pairs"):
        tiny_tokenizer(["a", "b"], ["c"])
    with pytest.raises(InputError, match="strings"):
        tiny_tokenizer([None])
    with pytest.raises(InputError, match="padding=True"):
        tiny_tokenizer(["a", "a b c"], return_tensors="pt")
    with pytest.raises(InputError, match="stride"):
        tiny_tokenizer(
            "a b c d e f g",
            truncation=True,
            max_length=4,
            stride=10,
            return_overflowing_tokens=True,
        )


def test_vocabulary_problems_raise_clear_errors(tmp_path):
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"special token.*\[PAD\]"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").unlink()
    with pytest.raises(InputError, match="no tokenizer"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid tokenizer"):
        Tokenizer.from_pretrained(tmp_path)


def test_a_lone_surrogate_is_a_clear_input_error(tiny_tokenizer):
    with pytest.raises(InputError, match="unpaired surrogate U\\+D800 at position 2"):
        tiny_tokenizer(["ok", "ab\ud800c"])
