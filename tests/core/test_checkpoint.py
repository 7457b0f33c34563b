"""Loading and saving model folders: name variants, heads, formats, corruption, atomic saves."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat

import pytest
import torch
from safetensors.torch import load_file, save_file

import bertkit.checkpoint as checkpoint
from bertkit.checkpoint import load_model, read_state_dict, save_model
from bertkit.errors import CheckpointError, ConfigError, InputError
from bertkit.pretrained import load_pretrained


def hidden_of(model, tokenizer) -> torch.Tensor:
    batch = tokenizer(["the quick brown fox", "hello world"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model.eval().bert(**batch)[0]


def rewrite_weights(folder, transform) -> None:
    """Apply `transform(state) -> state` to the folder's model.safetensors in place."""
    path = folder / "model.safetensors"
    save_file(transform(load_file(path)), str(path))


@pytest.fixture()
def classifier_folder(make_tiny_folder, tmp_path):
    folder = tmp_path / "classifier"
    shutil.copytree(make_tiny_folder("sequence-classification", labels=["a", "b"], seed=3), folder)
    return folder


def test_with_and_without_bert_prefix_load_the_same(classifier_folder, tiny_tokenizer):
    prefixed, _ = load_model(classifier_folder, "sequence-classification")
    rewrite_weights(
        classifier_folder,
        lambda state: {name.removeprefix("bert."): t for name, t in state.items()},
    )
    assert not any(
        name.startswith("bert.") for name in load_file(classifier_folder / "model.safetensors")
    )
    plain, report = load_model(classifier_folder, "sequence-classification")
    assert report.initialised_heads == [] and report.unexpected == []
    assert torch.equal(hidden_of(prefixed, tiny_tokenizer), hidden_of(plain, tiny_tokenizer))
    assert torch.equal(prefixed.classifier.weight, plain.classifier.weight)


def test_tensorflow_era_gamma_beta_names_load(classifier_folder, tiny_tokenizer):
    original, _ = load_model(classifier_folder, "sequence-classification")

    def rename(state):
        return {
            name.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
                "LayerNorm.bias", "LayerNorm.beta"
            ): t
            for name, t in state.items()
        }

    rewrite_weights(classifier_folder, rename)
    renamed, report = load_model(classifier_folder, "sequence-classification")
    assert report.unexpected == []
    assert torch.equal(hidden_of(original, tiny_tokenizer), hidden_of(renamed, tiny_tokenizer))


def test_missing_task_head_is_initialised_and_reported(tiny_folder, caplog):
    model, report = load_model(tiny_folder, "token-classification", labels=["O", "B", "I"])
    assert report.initialised_heads == ["classifier"]
    assert model.classifier.weight.shape == (3, 32)
    assert model.classifier.weight.detach().std().item() == pytest.approx(0.02, rel=0.3)
    assert "no trained classifier" in caplog.text
    assert [record.levelname for record in caplog.records] == ["WARNING"]


def test_new_heads_expected_logs_the_new_head_at_info(tiny_folder, classifier_folder, caplog):
    caplog.set_level("INFO", logger="bertkit.checkpoint")
    model, _, report = load_pretrained(
        tiny_folder, "sequence-classification", labels=["x", "y"], new_heads_expected=True
    )
    assert report.initialised_heads == ["classifier"]
    heads = [record for record in caplog.records if "no trained classifier" in record.message]
    assert [record.levelname for record in heads] == ["INFO"]
    assert not [record for record in caplog.records if record.levelname == "WARNING"]

    caplog.clear()  # a trained head of another label set still warns: its weights are lost
    load_model(classifier_folder, "sequence-classification", labels=["p", "q", "r"],
               new_heads_expected=True)  # fmt: skip
    warnings = [record.message for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2 and all("another label set" in text for text in warnings)


def test_masked_lm_checkpoint_feeds_a_classifier_with_a_new_pooler(make_tiny_folder):
    """A pretraining (masked-LM) checkpoint has no pooler: fine-tuning must still start."""
    folder = make_tiny_folder("masked-lm")
    assert not any("pooler" in name for name in load_file(folder / "model.safetensors"))
    model, report = load_model(folder, "sequence-classification", labels=["x", "y"])
    assert report.initialised_heads == ["pooler", "classifier"]
    assert report.missing_encoder == []
    assert sorted(report.unexpected) == [
        "mlm_head.bias",
        "mlm_head.norm.bias",
        "mlm_head.norm.weight",
        "mlm_head.transform.bias",
        "mlm_head.transform.weight",
    ]
    assert model.bert.pooler.dense.bias.detach().abs().max().item() == 0.0  # freshly initialised


def test_head_for_another_label_set_is_reinitialised(classifier_folder):
    model, report = load_model(classifier_folder, "sequence-classification", labels=["a", "b", "c"])
    assert report.initialised_heads == ["classifier"]
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    same, report = load_model(classifier_folder, "sequence-classification")
    assert report.initialised_heads == [] and same.config.id2label == {0: "a", 1: "b"}


def test_missing_encoder_weight_is_an_error_unless_allowed(classifier_folder):
    rewrite_weights(
        classifier_folder,
        lambda state: {name: t for name, t in state.items() if "layer.1.output.dense" not in name},
    )
    with pytest.raises(
        CheckpointError,
        match=r"lacks 2 encoder weight\(s\): bert\.encoder\.layer\.1\.output\.dense\.weight",
    ):
        load_model(classifier_folder, "sequence-classification")
    model, report = load_model(classifier_folder, "sequence-classification", allow_missing=True)
    assert report.missing_encoder == [
        "bert.encoder.layers.1.ffn.down.weight",
        "bert.encoder.layers.1.ffn.down.bias",
    ]


def test_weights_that_contradict_the_config_are_an_error(classifier_folder):
    config = json.loads((classifier_folder / "config.json").read_text())
    config["intermediate_size"] = 64
    (classifier_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        CheckpointError, match=r"layer\.0\.intermediate\.dense\.\w+ has shape \(37,.*implies \(64,"
    ):
        load_model(classifier_folder, "sequence-classification")


def test_fused_attention_shape_error_names_the_checkpoint_weights(classifier_folder):
    rewrite_weights(
        classifier_folder,
        lambda state: {
            name: t[:-2] if "layer.1.attention.self.key.weight" in name else t
            for name, t in state.items()
        },
    )
    with pytest.raises(CheckpointError) as caught:
        load_model(classifier_folder, "sequence-classification")
    message = str(caught.value)
    assert "layer.1.attention.self.{query,key,value}.weight" in message and "qkv" not in message


def test_untied_masked_lm_decoder_is_refused_and_decoder_bias_alias_is_read(
    make_tiny_folder, tmp_path
):
    folder = tmp_path / "mlm"
    shutil.copytree(make_tiny_folder("masked-lm", seed=4), folder)
    original, _ = load_model(folder, "masked-lm")

    def old_layout(state):  # bias only under the decoder's name, decoder weight stored tied
        state = dict(state)
        state["cls.predictions.decoder.bias"] = state.pop("cls.predictions.bias")
        state["cls.predictions.decoder.weight"] = state[
            "bert.embeddings.word_embeddings.weight"
        ].clone()
        return state

    rewrite_weights(folder, old_layout)
    reloaded, report = load_model(folder, "masked-lm")
    assert report.initialised_heads == [] and report.unexpected == []
    assert torch.equal(reloaded.mlm_head.bias, original.mlm_head.bias)

    def untie(state):
        state = dict(state)
        state["cls.predictions.decoder.weight"] = state["cls.predictions.decoder.weight"] + 1
        return state

    rewrite_weights(folder, untie)
    with pytest.raises(CheckpointError, match="not tied"):
        load_model(folder, "masked-lm")
    load_model(folder, "encoder")  # the decoder does not matter to the encoder


def test_sharded_safetensors_load(classifier_folder, tiny_tokenizer):
    whole, _ = load_model(classifier_folder, "sequence-classification")
    state = load_file(classifier_folder / "model.safetensors")
    names = sorted(state)
    shards = {
        "model-00001-of-00002.safetensors": names[::2],
        "model-00002-of-00002.safetensors": names[1::2],
    }
    for shard, shard_names in shards.items():
        save_file({name: state[name] for name in shard_names}, str(classifier_folder / shard))
    weight_map = {name: shard for shard, shard_names in shards.items() for name in shard_names}
    index = classifier_folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (classifier_folder / "model.safetensors").unlink()
    sharded, _ = load_model(classifier_folder, "sequence-classification")
    assert torch.equal(hidden_of(whole, tiny_tokenizer), hidden_of(sharded, tiny_tokenizer))

    index.write_text(json.dumps({"weight_map": {names[0]: "../elsewhere.safetensors"}}))
    with pytest.raises(CheckpointError, match="outside its folder"):
        read_state_dict(classifier_folder)
    index.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a valid safetensors index"):
        read_state_dict(classifier_folder)


def test_pytorch_model_bin_is_read_as_plain_tensors(classifier_folder, tiny_tokenizer):
    whole, _ = load_model(classifier_folder, "sequence-classification")
    state = load_file(classifier_folder / "model.safetensors")
    torch.save(state, classifier_folder / "pytorch_model.bin")
    (classifier_folder / "model.safetensors").unlink()
    legacy, _ = load_model(classifier_folder, "sequence-classification")
    assert torch.equal(hidden_of(whole, tiny_tokenizer), hidden_of(legacy, tiny_tokenizer))


class _Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the raw pickle.dumps file
@pytest.mark.parametrize("via_torch_save", [True, False])
def test_pickle_with_an_arbitrary_object_is_refused(tmp_path, classifier_folder, via_torch_save):
    marker = tmp_path / "code-ran"
    (classifier_folder / "model.safetensors").unlink()
    payload = {"bert.embeddings.word_embeddings.weight": torch.zeros(2), "x": _Payload(marker)}
    path = classifier_folder / "pytorch_model.bin"
    if via_torch_save:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match="never unpickles arbitrary objects"):
        load_model(classifier_folder, "sequence-classification")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header"])
def test_corrupt_safetensors_is_a_clear_error(classifier_folder, damage):
    path = classifier_folder / "model.safetensors"
    data = path.read_bytes()
    corrupted = {
        "truncate": data[: len(data) // 2],
        "garbage": os.urandom(4096),
        "empty": b"",
        "header": data[:8] + b"{not json" + data[17:],
    }[damage]
    path.write_bytes(corrupted)
    with pytest.raises(CheckpointError, match="not a valid safetensors file.*save the checkpoint"):
        load_model(classifier_folder, "sequence-classification")


def test_folder_problems_are_clear_errors(tmp_path, tiny_folder):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        load_model(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="needs a config.json"):
        load_model(tmp_path / "empty")
    shutil.copy(tiny_folder / "config.json", tmp_path / "empty")
    with pytest.raises(CheckpointError, match="holds no weights"):
        load_model(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="unknown task 'summarise'"):
        load_model(tiny_folder, "summarise")


def test_vocabulary_larger_than_the_embedding_is_refused(tiny_folder, tiny_vocab, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    (folder / "tokenizer.json").unlink()
    with open(folder / "vocab.txt", "a", encoding="utf-8") as handle:
        handle.write("extra1\nextra2\n")
    size = len(tiny_vocab)
    message = rf"tokenizer has {size + 2} tokens.*{size} rows \(vocab_size\)"
    with pytest.raises(CheckpointError, match=message):
        load_pretrained(folder)


# ---- saving ----------------------------------------------------------------------------------


def test_save_writes_a_complete_readable_folder(make_tiny_folder):
    folder = make_tiny_folder("question-answering")
    assert sorted(path.name for path in folder.iterdir()) == [
        ".bertkit-files",  # the manifest that tells bertkit's files from a user's
        "config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    mode = stat.S_IMODE(folder.stat().st_mode)
    assert mode & 0o055 == 0o055 & ~_umask()  # not private 0700: readable like any folder
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def snapshot(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("failure_point", ["weights", "tokenizer"])
def test_failed_save_leaves_the_old_folder_intact(
    classifier_folder, tiny_tokenizer, monkeypatch, failure_point
):
    before = snapshot(classifier_folder)
    model, _ = load_model(classifier_folder, "sequence-classification")
    with torch.no_grad():
        model.classifier.bias.add_(1.0)

    def half_written_weights(state, path, metadata=None):
        with open(path, "wb") as handle:
            handle.write(b"\x00" * 100)  # a partial file, then the disk "fills up"
        raise OSError(28, "No space left on device")

    def failing_tokenizer_save(folder):
        raise OSError(28, "No space left on device")

    if failure_point == "weights":
        monkeypatch.setattr(checkpoint, "save_file", half_written_weights)
    else:
        monkeypatch.setattr(tiny_tokenizer, "save", failing_tokenizer_save)
    with pytest.raises(OSError, match="No space left"):
        save_model(model, classifier_folder, tiny_tokenizer)
    assert snapshot(classifier_folder) == before
    assert sorted(p.name for p in classifier_folder.parent.iterdir()) == ["classifier"]

    # A first save that fails leaves no folder at all.
    with pytest.raises(OSError):
        save_model(model, classifier_folder.parent / "new", tiny_tokenizer)
    assert sorted(p.name for p in classifier_folder.parent.iterdir()) == ["classifier"]


def test_save_over_an_existing_folder_replaces_it(classifier_folder, tiny_tokenizer):
    model, _ = load_model(classifier_folder, "sequence-classification")
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    (classifier_folder / "notes.txt").write_text("mine")  # a user's file: refused, kept
    with pytest.raises(InputError, match="notes.txt"):
        save_model(model, classifier_folder, tiny_tokenizer)
    assert (classifier_folder / "notes.txt").read_text() == "mine"
    (classifier_folder / "notes.txt").unlink()
    save_model(model, classifier_folder, tiny_tokenizer)
    reloaded, _ = load_model(classifier_folder, "sequence-classification")
    assert torch.equal(reloaded.classifier.bias, model.classifier.bias)
    assert sorted(p.name for p in classifier_folder.parent.iterdir()) == ["classifier"]


def test_config_with_fewer_layers_than_the_weights_is_refused(tmp_path, tiny_folder):
    import json
    import shutil

    from bertkit.checkpoint import load_model
    from bertkit.errors import CheckpointError

    folder = tmp_path / "cut"
    shutil.copytree(tiny_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] -= 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="num_hidden_layers"):
        load_model(folder)
