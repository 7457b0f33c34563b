"""WordPiece vocabulary training and fill-mask on bertkit and Hugging Face folders."""

import copy
import json
import logging

import pytest
import torch

from bertkit.cli import main
from bertkit.errors import InputError
from bertkit.fill_mask import fill_mask, load_fill_mask_model
from bertkit.tokenization import Tokenizer

torch.set_num_threads(1)


def test_tokenizer_train_cli_cased_and_uncased(tmp_path, corpus_file, capsys):
    for case, flag in (("uncased", "--uncased"), ("cased", "--cased")):
        out = tmp_path / case
        code = main(
            [
                "tokenizer",
                "train",
                "--corpus",
                str(corpus_file),
                "--vocab-size",
                "120",
                "--out",
                str(out),
                flag,
            ]
        )
        assert code == 0
        vocab = (out / "vocab.txt").read_text().splitlines()
        assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        assert len(vocab) <= 120 and any(t.startswith("##") for t in vocab)
        tokenizer = Tokenizer.from_pretrained(out)
        tokens = tokenizer.tokenize("The Cat")
        assert (tokens[0] == "the") == (case == "uncased"), tokens
        settings = json.loads((out / "tokenizer_config.json").read_text())
        assert settings["do_lower_case"] == (case == "uncased")


def test_trained_vocabulary_loads_in_hugging_face(tmp_path, corpus_file):
    transformers = pytest.importorskip("transformers")
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--corpus",
                str(corpus_file),
                "--vocab-size",
                "150",
                "--out",
                str(tmp_path / "tok"),
            ]
        )
        == 0
    )
    ours = Tokenizer.from_pretrained(tmp_path / "tok")
    theirs = transformers.BertTokenizerFast.from_pretrained(str(tmp_path / "tok"))
    text = "The zookeeper reconsidered [MASK] boats, quizzically."
    assert ours(text)["input_ids"] == theirs(text)["input_ids"]
    assert theirs.mask_token_id == ours.mask_token_id == 4


def test_empty_corpus_for_vocabulary_is_an_error(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    code = main(
        [
            "tokenizer",
            "train",
            "--corpus",
            str(empty),
            "--vocab-size",
            "100",
            "--out",
            str(tmp_path / "tok"),
        ]
    )
    assert code == 2 and "no text" in capsys.readouterr().err
    assert not (tmp_path / "tok").exists()


@pytest.fixture(scope="module")
def hf_masked_lm(tmp_path_factory, tokenizer_dir, make_hf_config):
    """A random Hugging Face BertForMaskedLM folder with our trained vocabulary."""
    transformers = pytest.importorskip("transformers")
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    config = make_hf_config(
        vocab_size=tokenizer.vocab_size, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(config).eval()
    with torch.no_grad():
        model.cls.predictions.bias.normal_()  # make the head bias matter
    folder = tmp_path_factory.mktemp("hf-mlm")
    model.save_pretrained(str(folder))
    tokenizer.save(folder)
    return model, folder


def test_fill_mask_matches_hugging_face(hf_masked_lm):
    reference, folder = hf_masked_lm
    model, tokenizer = load_fill_mask_model(folder)
    texts = ["the cat [MASK] the river.", "a [MASK] followed the [MASK] boat again."]
    results = fill_mask(model, tokenizer, texts, top_k=4)
    assert [len(masks) for masks in results] == [1, 2]
    for text, masks in zip(texts, results, strict=True):
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            logits = reference(**encoded).logits[0]
        positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().squeeze(1)
        for fillers, position in zip(masks, positions.tolist(), strict=True):
            probabilities = logits[position].softmax(-1)
            candidates = probabilities.clone()
            candidates[sorted(tokenizer.special_token_ids)] = -1.0
            expected = candidates.topk(4)
            assert [f.token_id for f in fillers] == expected.indices.tolist()
            got = torch.tensor([f.probability for f in fillers])
            torch.testing.assert_close(got, expected.values, rtol=1e-4, atol=1e-6)
            assert "[MASK]" not in fillers[0].sequence or len(masks) > 1


def test_fill_mask_never_offers_special_tokens(hf_masked_lm):
    reference, folder = hf_masked_lm
    model, tokenizer = load_fill_mask_model(folder)
    favoured = sorted(tokenizer.special_token_ids)
    with torch.no_grad():
        model.mlm_head.bias[favoured] += 50.0  # the model now prefers them everywhere
    (fillers,) = fill_mask(model, tokenizer, ["the cat [MASK] the river."], top_k=3)[0]
    assert len(fillers) == 3
    assert not {f.token_id for f in fillers} & tokenizer.special_token_ids
    assert all(f.probability < 1e-6 for f in fillers)  # the mass stayed with the special tokens


def test_fill_mask_cli_prints_fillers(hf_masked_lm, capsys):
    _, folder = hf_masked_lm
    assert (
        main(["fill-mask", str(folder), "the cat [MASK] the river.", "--top-k", "2", "--json"]) == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert len(record["masks"]) == 1 and len(record["masks"][0]) == 2
    assert main(["fill-mask", str(folder), "no mask here"]) == 2
    assert "has no [MASK]" in capsys.readouterr().err


def test_model_without_mlm_head_is_refused(make_tiny_folder, caplog):
    with pytest.raises(InputError, match="no masked-language-model head"):
        load_fill_mask_model(make_tiny_folder("encoder"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # the error says it


def test_over_long_text_is_refused_unless_truncation_is_asked_for(hf_masked_lm, capsys):
    _, folder = hf_masked_lm  # 64 positions
    long_tail = " the river ran past the old mill." * 20
    early, late = "the [MASK] sat." + long_tail, long_tail + " the [MASK] sat."
    assert main(["fill-mask", str(folder), early]) == 2
    err = capsys.readouterr().err
    assert "text 1 is" in err and "at most 64" in err and "--truncate" in err
    assert main(["fill-mask", str(folder), early, "--truncate", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["masks"]) == 1
    assert main(["fill-mask", str(folder), late, "--truncate"]) == 2
    assert "lies past the first 64" in capsys.readouterr().err


def test_fill_mask_cli_shows_small_probabilities(hf_masked_lm, tmp_path, capsys):
    reference, folder = hf_masked_lm
    tokenizer = Tokenizer.from_pretrained(folder)
    peaked = copy.deepcopy(reference)
    with torch.no_grad():
        peaked.cls.predictions.bias[sorted(tokenizer.special_token_ids)] += 12.0
    peaked.save_pretrained(str(tmp_path / "peaked"))
    tokenizer.save(tmp_path / "peaked")  # special tokens hold nearly all the mass
    assert main(["fill-mask", str(tmp_path / "peaked"), "the cat [MASK] the river."]) == 0
    shown = capsys.readouterr().out.split(": ", 1)[1].split()
    probabilities = shown[1::2]
    assert len(probabilities) == 5 and all("e-0" in p for p in probabilities), shown
    assert 0 < float(probabilities[0]) < 0.0005


def test_a_vocabulary_smaller_than_asked_is_reported(tmp_path, corpus_file, caplog):
    out = tmp_path / "tok"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--corpus",
                str(corpus_file),
                "--vocab-size",
                "100000",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "not the 100000 asked for" in caplog.text
