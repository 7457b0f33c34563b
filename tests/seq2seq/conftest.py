"""Tiny random BERT2BERT models (hidden 32, 2 layers) over the shared tiny vocabulary."""

from __future__ import annotations

import pytest
import torch

from bertkit.config import BertConfig
from bertkit.seq2seq import EncoderDecoder, Seq2SeqConfig


def build_model(tiny_config, tiny_tokenizer, share: bool = False, seed: int = 0):
    """A random EncoderDecoder in eval mode; biases and LayerNorms are random too, so a weight
    loaded into the wrong place changes the outputs."""
    torch.manual_seed(seed)
    config = Seq2SeqConfig(
        encoder=BertConfig.from_dict(tiny_config.to_dict()),
        decoder=BertConfig.from_dict(tiny_config.to_dict()),
        decoder_start_token_id=tiny_tokenizer.cls_token_id,
        eos_token_id=tiny_tokenizer.sep_token_id,
        pad_token_id=tiny_tokenizer.pad_token_id,
        share=share,
    )
    model = EncoderDecoder(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
            if name.endswith("word.weight"):
                parameter.mul_(20)  # sharper output distributions: varied generations
            if "cross_attention." in name and name.endswith("weight"):
                parameter.mul_(25)  # outputs that depend on the source
    return model.eval()


@pytest.fixture
def make_model(tiny_config, tiny_tokenizer):
    def make(share: bool = False, seed: int = 0) -> EncoderDecoder:
        return build_model(tiny_config, tiny_tokenizer, share, seed)

    return make


@pytest.fixture
def source_batch(tiny_tokenizer):
    return tiny_tokenizer(
        ["the quick brown fox jumps over", "hello world", "paris in the new city of york"],
        padding=True,
        return_tensors="pt",
    )
