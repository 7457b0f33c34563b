"""Folders move both ways between bertkit and transformers with identical outputs.

Tiny random configs; biases and LayerNorms are randomised too, so a weight put in the wrong
place (or a transposed query/key/value split) changes the outputs.
"""

from __future__ import annotations

import pytest
import torch

from bertkit.checkpoint import load_model, save_model

transformers = pytest.importorskip("transformers")

LABELS = ["neg", "neu", "pos"]
# bertkit task -> (transformers class name, names of the outputs to compare)
TASKS = {
    "encoder": ("BertModel", ["last_hidden_state", "pooler_output"]),
    "masked-lm": ("BertForMaskedLM", ["logits"]),
    "sequence-classification": ("BertForSequenceClassification", ["logits"]),
    "token-classification": ("BertForTokenClassification", ["logits"]),
    "question-answering": ("BertForQuestionAnswering", ["start_logits", "end_logits"]),
}


def batch_for(tokenizer) -> dict[str, torch.Tensor]:
    return tokenizer(
        ["the quick brown fox jumps", "hello", "paris in the city"],
        ["over the lazy dog", "world is good", "new york"],
        padding=True,
        return_tensors="pt",
    )


def outputs(model, batch, names) -> dict[str, torch.Tensor]:
    with torch.inference_mode():
        result = model(**batch)
    real = batch["attention_mask"].bool()
    compared = {}
    for name in names:
        value = getattr(result, name)
        # Per-token outputs are compared on real tokens; padded positions are never read.
        compared[name] = (
            value[real] if value.dim() >= 2 and value.shape[:2] == real.shape else value
        )
    return compared


def assert_close(ours, theirs):
    for name in ours:
        assert ours[name].shape == theirs[name].shape, name
        assert (ours[name] - theirs[name]).abs().max() < 1e-5, name


@pytest.mark.parametrize("task", list(TASKS))
def test_bertkit_folder_loads_in_transformers(task, make_tiny_folder, tiny_tokenizer):
    hf_name, names = TASKS[task]
    labels = LABELS if "classification" in task else None
    folder = make_tiny_folder(task, labels=labels, seed=1)
    ours, report = load_model(folder, task)
    assert report.initialised_heads == [] and report.unexpected == []
    ours.eval()

    theirs = getattr(transformers, hf_name).from_pretrained(folder).eval()
    if labels:
        assert theirs.config.id2label == dict(enumerate(labels))
    batch = batch_for(tiny_tokenizer)
    assert_close(outputs(ours, batch, names), outputs(theirs, batch, names))

    # And transformers' tokenizer reads the tokenizer files bertkit wrote, identically.
    reference_tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    reference_batch = reference_tokenizer(
        ["the quick brown fox jumps", "hello", "paris in the city"],
        ["over the lazy dog", "world is good", "new york"],
        padding=True,
        return_tensors="pt",
    )
    for key in batch:
        assert torch.equal(batch[key], reference_batch[key])


@pytest.mark.parametrize("task", list(TASKS))
def test_transformers_folder_loads_in_bertkit(task, make_hf_config, tiny_tokenizer, tmp_path):
    hf_name, names = TASKS[task]
    hf_config = make_hf_config(
        id2label=dict(enumerate(LABELS)) if "classification" in task else None
    )
    torch.manual_seed(2)
    theirs = getattr(transformers, hf_name)(hf_config).eval()
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    theirs.save_pretrained(tmp_path)
    tiny_tokenizer.save(tmp_path)

    ours, report = load_model(tmp_path, task)
    assert report.initialised_heads == [] and report.missing_encoder == []
    assert report.unexpected == []
    ours.eval()
    batch = batch_for(tiny_tokenizer)
    assert_close(outputs(ours, batch, names), outputs(theirs, batch, names))

    # Saving again writes the names transformers wrote: the round trip closes.
    again = tmp_path / "again"
    save_model(ours, again, tiny_tokenizer)
    reloaded = getattr(transformers, hf_name).from_pretrained(again).eval()
    assert_close(outputs(reloaded, batch, names), outputs(theirs, batch, names))


def test_config_keys_survive_the_round_trip(tmp_path, make_hf_config, tiny_tokenizer):
    hf_config = make_hf_config(
        hidden_act="gelu_new",
        layer_norm_eps=1e-7,
        classifier_dropout=0.25,
        id2label={0: "B-PER", 1: "I-PER", 2: "O"},
    )
    transformers.BertForTokenClassification(hf_config).save_pretrained(tmp_path / "hf")
    ours, _ = load_model(tmp_path / "hf", "token-classification")
    save_model(ours, tmp_path / "bk", tiny_tokenizer)
    original = transformers.AutoConfig.from_pretrained(tmp_path / "hf")
    reloaded = transformers.AutoConfig.from_pretrained(tmp_path / "bk")
    for key in (
        "hidden_act",
        "layer_norm_eps",
        "classifier_dropout",
        "id2label",
        "vocab_size",
        "max_position_embeddings",
        "intermediate_size",
        "num_labels",
    ):
        assert getattr(reloaded, key) == getattr(original, key), key
    # transformers 5 leaves label2id empty when only id2label is given; bertkit writes both.
    assert reloaded.label2id == {"B-PER": 0, "I-PER": 1, "O": 2}
    assert reloaded.architectures == ["BertForTokenClassification"]
