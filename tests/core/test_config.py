"""BertConfig: config.json round trips keep every key; wrong types are named clearly."""

from __future__ import annotations

import json

import pytest

from bertkit.config import BertConfig
from bertkit.errors import ConfigError

MINILM_LIKE = {
    "_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 384,
    "initializer_range": 0.02,
    "intermediate_size": 1536,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 6,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "transformers_version": "4.8.2",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 30522,
    "bertkit_task": "classify",
    "custom": {"nested": [1, 2, 3]},
}


def test_round_trip_keeps_unknown_keys(tmp_path):
    config = BertConfig.from_dict(MINILM_LIKE)
    assert config.hidden_size == 384 and config.head_size == 32
    assert config.extra["custom"] == {"nested": [1, 2, 3]}
    path = tmp_path / "config.json"
    config.save(path)
    written = json.loads(path.read_text())
    assert written == MINILM_LIKE  # nothing lost, nothing added
    assert BertConfig.from_json_file(path) == config


def test_labels_round_trip_with_string_keys(tmp_path):
    config = BertConfig(hidden_size=32, num_attention_heads=4).with_labels(["neg", "pos"])
    assert config.num_labels == 2 and config.label2id == {"neg": 0, "pos": 1}
    config.save(tmp_path / "config.json")
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["id2label"] == {"0": "neg", "1": "pos"}
    assert BertConfig.from_json_file(tmp_path / "config.json").id2label == {0: "neg", 1: "pos"}
    only_label2id = BertConfig.from_dict({"label2id": {"x": 1, "y": 0}})
    assert only_label2id.id2label == {0: "y", 1: "x"}


def test_with_labels_does_not_share_extra():
    base = BertConfig.from_dict({"bertkit_task": "ner"})
    labelled = base.with_labels(["O"])
    labelled.extra["bertkit_task"] = "classify"
    assert base.extra["bertkit_task"] == "ner" and base.id2label is None


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("hidden_size", "384", "'hidden_size' must be a number"),
        ("hidden_size", 38.5, "'hidden_size' must be an integer"),
        ("num_hidden_layers", True, "'num_hidden_layers' must be a number"),
        ("num_hidden_layers", None, "'num_hidden_layers' must be a number"),
        ("vocab_size", 0, "'vocab_size' must be positive"),
        ("num_attention_heads", 5, "not a multiple of num_attention_heads"),
        ("hidden_dropout_prob", 1.5, "'hidden_dropout_prob' must be in"),
        ("hidden_act", "mish", "hidden_act 'mish' is not supported"),
        ("hidden_act", 3, "hidden_act 3 is not supported"),
        ("layer_norm_eps", -1.0, "'layer_norm_eps'"),
        ("classifier_dropout", "high", "'classifier_dropout'"),
        ("id2label", ["a", "b"], "'id2label' / 'label2id'"),
        ("id2label", {"zero": "a"}, "'id2label' / 'label2id'"),
        ("label2id", ["a"], "'id2label' / 'label2id'"),
        ("id2label", {"0": "a", "2": "b"}, "ids must be 0..N-1"),
        ("pad_token_id", 40000, "pad_token_id 40000 is outside"),
        ("model_type", "roberta", "not BERT"),
        ("position_embedding_type", "relative_key", "only 'absolute'"),
        ("is_decoder", True, "decoder BERT configs"),
        ("architectures", "BertModel", "'architectures' must be a list"),
    ],
)
def test_wrong_values_name_the_field(tmp_path, key, value, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(MINILM_LIKE | {key: value}))
    with pytest.raises(ConfigError, match=message) as caught:
        BertConfig.from_json_file(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_unreadable_files_are_clear_errors(tmp_path):
    path = tmp_path / "config.json"
    with pytest.raises(ConfigError, match="needs a config.json"):
        BertConfig.from_json_file(path)
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BertConfig.from_json_file(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BertConfig.from_json_file(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        BertConfig.from_json_file(path)
