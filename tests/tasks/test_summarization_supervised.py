"""Supervised (BertSum-style) summarization: oracle labels, packing, model, save/load, training."""

import json

import pytest
import torch

from bertkit.checkpoint import load_model
from bertkit.errors import CheckpointError, InputError
from bertkit.model import BertEncoderModel
from bertkit.tasks.summarization import Summarizer, greedy_oracle, rouge_scores
from bertkit.tasks.summarization.data import Document, read_documents
from bertkit.tasks.summarization.supervised import (
    HEAD_FILE,
    BertForExtractiveSummarization,
    PackingSettings,
    collate_windows,
    load_summarizer,
    pack_windows,
    save_summarizer,
)
from bertkit.tasks.summarization.training import SummarizationOptions, finetune
from bertkit.training import TrainingConfig

TOPICS = ["fox", "dog", "city", "movie", "model", "world"]


def synthetic_document(seed: int) -> Document:
    """Five filler sentences and one 'key' sentence (about paris) at a random position; the
    reference summary restates the key sentence, so the oracle labels exactly that one."""
    generator = torch.Generator().manual_seed(seed)
    filler = [
        f"the {TOPICS[(seed + i) % 6]} was not very good in the {TOPICS[(seed + 2 * i) % 6]} city."
        for i in range(5)
    ]
    key = "paris and london play a new quick brown play in paris."
    position = int(torch.randint(0, 6, (1,), generator=generator))
    sentences = filler[:position] + [key] + filler[position:]
    return Document(
        " ".join(s.capitalize() for s in sentences), "paris and london play in paris", 1
    )


def test_greedy_oracle_picks_the_sentences_that_cover_the_reference():
    sentences = [
        "The weather was cold all week.",
        "Python 3.12 adds better error messages.",
        "Nobody cares about the weather.",
        "The release also speeds up list comprehensions.",
    ]
    reference = "Python 3.12 has better error messages. It speeds up list comprehensions."
    assert greedy_oracle(sentences, reference, max_sentences=3) == [1, 3]
    assert greedy_oracle(sentences, reference, max_sentences=1) == [1]
    assert greedy_oracle(sentences, "", max_sentences=3) == []
    assert greedy_oracle(["No overlap at all."], "zebra", 3) == []


def test_rouge_through_rouge_score():
    perfect = rouge_scores(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert perfect["rouge1"] == pytest.approx(100.0) and perfect["rougeL"] == pytest.approx(100.0)
    partial = rouge_scores(["the cat sat"], ["the cat sat on the mat"])
    assert 0 < partial["rouge2"] < partial["rouge1"] < 100
    assert partial["rouge1_precision"] == pytest.approx(100.0)
    with pytest.raises(InputError):
        rouge_scores(["a"], ["a", "b"])


def test_packing_alternates_segments_and_never_overflows():
    token_ids = [[10] * 5, [11] * 7, [12] * 30, [13] * 3]
    windows = pack_windows(token_ids, cls_id=2, sep_id=3, max_length=24, labels=[0, 1, 0, 1])
    assert [w.sentences for w in windows] == [[0, 1], [2], [3]]
    first = windows[0]
    assert first.input_ids == [2] + [10] * 5 + [3] + [2] + [11] * 7 + [3]
    assert first.token_type_ids == [0] * 7 + [1] * 9
    assert first.cls_positions == [0, 7] and first.labels == [0, 1]
    assert all(len(w.input_ids) <= 24 for w in windows)  # the 30-token sentence was cut
    batch = collate_windows(windows, pad_id=0)
    assert batch["input_ids"].shape == (3, 24) and batch["cls_positions"].shape == (3, 2)
    assert batch["sentence_mask"].tolist() == [[True, True], [True, False], [True, False]]
    assert batch["labels"].tolist() == [[0, 1], [0, -100], [1, -100]]


def test_model_loss_counts_only_real_sentences(tiny_config):
    torch.manual_seed(0)
    model = BertForExtractiveSummarization(tiny_config)
    windows = pack_windows([[20, 21], [22], [23, 24, 25]], 2, 3, 12, labels=[1, 0, 1])
    batch = collate_windows(windows, pad_id=0)
    output = model(**batch)
    assert output.logits.shape == batch["cls_positions"].shape
    assert int(output.num_loss_items) == 3
    logits = output.logits[batch["sentence_mask"]]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([1.0, 0.0, 1.0])
    )
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert not any(p.requires_grad for p in model.bert.pooler.parameters())


def test_save_and_load_round_trip(tiny_config, tiny_tokenizer, tmp_path):
    torch.manual_seed(1)
    model = BertForExtractiveSummarization(tiny_config).eval()
    settings = PackingSettings(max_length=48, max_sentence_tokens=10, min_words=3)
    folder = save_summarizer(model, tmp_path / "summarizer", tiny_tokenizer, settings)
    config = json.loads((folder / "config.json").read_text())
    assert config["bertkit_task"] == "summarize"
    assert config["bertkit_summarization"]["max_sentence_tokens"] == 10
    assert (folder / HEAD_FILE).is_file()
    loaded, _, loaded_settings = load_summarizer(folder)
    assert loaded_settings == settings
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    # The folder is also a complete plain encoder for any BERT loader.
    encoder, report = load_model(folder, BertEncoderModel)
    assert not report.missing_encoder
    (folder / HEAD_FILE).unlink()
    with pytest.raises(CheckpointError, match="not a fine-tuned summarizer"):
        load_summarizer(folder)


def test_finetuning_learns_the_oracle_sentence(tiny_folder, tmp_path):
    """After a short run, the key sentence scores highest in unseen documents."""
    torch.set_num_threads(1)
    train = [synthetic_document(seed) for seed in range(48)]
    dev = [synthetic_document(seed) for seed in range(1000, 1012)]
    options = SummarizationOptions(
        packing=PackingSettings(max_length=64, max_sentence_tokens=14),
        summary_sentences=1,
        oracle_sentences=1,
    )
    training = TrainingConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=120,
        batch_size=8,
        learning_rate=2e-3,
        warmup_steps=5,
        save_every=0,
        eval_every=60,
        precision="fp32",
        metric_for_best="rouge2",
        greater_is_better=True,
        log_every=0,
    )
    report = finetune(str(tiny_folder), train, tmp_path / "out", training, options, dev)
    assert report["train"]["oracle_positive_fraction"] == pytest.approx(1 / 6)
    summarizer = Summarizer.from_pretrained(tmp_path / "out")
    assert summarizer.default_method == "supervised"
    hits = 0
    for document in dev:
        summary = summarizer.summarize(document.text, num_sentences=1)
        hits += "Paris and london" in summary.text
    assert hits >= 10, f"key sentence chosen in only {hits} of 12 dev documents"
    assert report["dev"]["rouge2"] > 50


def test_reading_jsonl_fields_and_bad_input(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"article": "One. Two.", "highlights": ["first", "second"]})
        + "\n\n"
        + json.dumps({"article": "Three.", "highlights": "third"})
        + "\n",
        encoding="utf-8",
    )
    documents = read_documents(str(path), require_summary=True)
    assert [d.summary for d in documents] == ["first\nsecond", "third"]
    assert [d.line for d in documents] == [1, 3]
    path.write_text('{"body": "x", "abstract": "y"}\n', encoding="utf-8")
    assert (
        read_documents(str(path), document_field="body", summary_field="abstract")[0].summary == "y"
    )
    with pytest.raises(InputError, match="cannot tell which field"):
        read_documents(str(path), require_summary=True)
    path.write_text('{"document": "x"}\n{"document": "y", "summary": "z"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"data.jsonl:1: no reference summary"):
        read_documents(str(path), require_summary=True)
    with pytest.raises(InputError, match=r"data.jsonl:2: not valid JSON"):
        read_documents(str(path))
    path.write_bytes(b"caf\xe9 au lait.\n")
    with pytest.raises(InputError, match="line 1: not UTF-8"):
        read_documents(str(path))
    path.write_text("Plain text.\nSecond line.\n", encoding="utf-8")
    assert [d.text for d in read_documents(str(path))] == ["Plain text.\nSecond line.\n"]


def test_freezing_lower_layers(tiny_config):
    from bertkit.tasks.summarization.training import freeze_lower_layers

    model = BertForExtractiveSummarization(tiny_config)
    freeze_lower_layers(model, 1)
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    assert not any(p.requires_grad for p in model.bert.encoder.layers[0].parameters())
    assert all(p.requires_grad for p in model.bert.encoder.layers[1].parameters())
    assert all(p.requires_grad for p in model.sentence_head.parameters())
    with pytest.raises(InputError, match="freeze_layers"):
        freeze_lower_layers(model, 3)
