"""BERT2BERT folders move both ways between bertkit and transformers' EncoderDecoderModel."""

from __future__ import annotations

import json

import pytest
import torch

from bertkit.checkpoint import save_model
from bertkit.errors import BertkitError, CheckpointError, ConfigError
from bertkit.model import BertForMaskedLM
from bertkit.seq2seq import from_pretrained_bert, load_seq2seq, save_seq2seq

transformers = pytest.importorskip("transformers")

DECODER_INPUTS = torch.tensor([[2, 40, 41, 42, 43], [2, 50, 51, 0, 0], [2, 60, 61, 62, 0]])


def logits_of(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=DECODER_INPUTS,
        ).logits


@pytest.mark.parametrize("share", [False, True])
def test_bertkit_folder_loads_in_transformers(
    share, make_model, tiny_tokenizer, source_batch, tmp_path
):
    model = make_model(share=share, seed=1)
    save_seq2seq(model, tmp_path / "m", tiny_tokenizer)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["is_encoder_decoder"] and config["decoder"]["add_cross_attention"]
    theirs = transformers.EncoderDecoderModel.from_pretrained(tmp_path / "m").eval()
    ours = logits_of(model, source_batch)
    torch.testing.assert_close(logits_of(theirs, source_batch), ours, atol=1e-4, rtol=1e-5)
    reloaded, tokenizer = load_seq2seq(tmp_path / "m")
    assert reloaded.config.share == share and tokenizer is not None
    assert torch.equal(logits_of(reloaded, source_batch), ours)
    if share:  # one set of weights, not two copies
        assert reloaded.decoder.embeddings is reloaded.encoder.embeddings


def test_transformers_folder_loads_in_bertkit(tiny_config, tiny_tokenizer, source_batch, tmp_path):
    settings = {k: v for k, v in tiny_config.to_dict().items() if k != "architectures"}
    bert = transformers.BertConfig(**settings)
    decoder = transformers.BertConfig(**settings, is_decoder=True, add_cross_attention=True)
    config = transformers.EncoderDecoderConfig.from_encoder_decoder_configs(bert, decoder)
    config.decoder_start_token_id = tiny_tokenizer.cls_token_id
    config.pad_token_id = tiny_tokenizer.pad_token_id
    torch.manual_seed(3)
    theirs = transformers.EncoderDecoderModel(config=config).eval()
    with torch.no_grad():
        for name, parameter in theirs.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    theirs.save_pretrained(tmp_path / "hf")
    tiny_tokenizer.save(tmp_path / "hf")
    ours, _ = load_seq2seq(tmp_path / "hf")
    assert ours.config.eos_token_id == tiny_tokenizer.sep_token_id  # from the tokenizer
    assert (logits_of(ours, source_batch) - logits_of(theirs, source_batch)).abs().max() < 1e-5
    # And the loss agrees: mean cross-entropy over the non-padding target tokens.
    labels = torch.tensor([[40, 41, 42, 3], [50, 3, -100, -100], [60, 61, 62, 3]])
    inputs = {k: source_batch[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        our_loss = ours(**inputs, labels=labels)
        their_loss = theirs(**inputs, labels=labels).loss
    assert int(our_loss.num_loss_items) == 10
    assert abs(float(our_loss.loss) - float(their_loss)) < 1e-5


@pytest.mark.parametrize("share", [False, True])
def test_from_pretrained_bert_fills_both_halves(share, tiny_config, tiny_tokenizer, tmp_path):
    torch.manual_seed(4)
    bert = BertForMaskedLM(tiny_config)
    save_model(bert, tmp_path / "bert", tiny_tokenizer)
    model, tokenizer, fresh = from_pretrained_bert(tmp_path / "bert", share=share)
    assert tokenizer.vocab_size == tiny_tokenizer.vocab_size
    source = bert.bert.encoder.layers[1].attention.qkv.weight
    assert torch.equal(model.encoder.encoder.layers[1].attention.qkv.weight, source)
    assert torch.equal(model.decoder.layers[1].attention.qkv.weight, source)
    assert torch.equal(model.decoder.lm_head.transform.weight, bert.mlm_head.transform.weight)
    assert any("cross_attention" in name for name in fresh)
    assert not any("lm_head" in name for name in fresh)
    shared = model.decoder.layers[0].ffn is model.encoder.encoder.layers[0].ffn
    assert shared == share
    parameters = sum(p.numel() for p in model.parameters())
    assert (parameters < 0.75 * sum(p.numel() for p in bert.parameters()) * 2) == share


def test_bad_folders_are_refused(tiny_folder, make_model, tiny_tokenizer, tmp_path):
    with pytest.raises(ConfigError, match="not an encoder-decoder"):
        load_seq2seq(tiny_folder)
    save_seq2seq(make_model(), tmp_path / "m", tiny_tokenizer)
    from safetensors.torch import load_file, save_file

    weights = load_file(tmp_path / "m" / "model.safetensors")
    del weights["decoder.bert.encoder.layer.1.crossattention.self.key.weight"]
    save_file(weights, tmp_path / "m" / "model.safetensors")
    with pytest.raises(CheckpointError, match="lacks 1 encoder-decoder weight"):
        load_seq2seq(tmp_path / "m")
    with pytest.raises(BertkitError, match="neither a folder"):
        load_seq2seq(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="is not a folder"):
        load_seq2seq(tmp_path / "m" / "config.json")
