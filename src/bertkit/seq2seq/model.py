"""BERT2BERT: a bertkit BERT encoder and a BERT decoder with cross-attention.

Both halves start from one pretrained BERT checkpoint (see `seq2seq.checkpoint`); with
`share=True` ("BERT2BERT-share" in Rothe et al., 2020) the decoder uses the encoder's very
embedding, self-attention and feed-forward modules, so only the cross-attention blocks and the
output head's transform are its own, which nearly halves the parameter count.

Training targets follow the usual BERT2BERT convention: the decoder reads [CLS] t1 .. tn and
predicts t1 .. tn [SEP]; [CLS] is the decoder start token, [SEP] ends a generation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.config import BertConfig
from bertkit.errors import ConfigError
from bertkit.model.encoder import BertModel, attention_bias
from bertkit.model.heads import IGNORE_INDEX
from bertkit.model.outputs import ModelOutput
from bertkit.seq2seq.decoder import BertDecoder, DecoderCache

TASK_NAME = "seq2seq"


@dataclass
class Seq2SeqConfig:
    """The two BERT configs and the special tokens that drive training and generation."""

    encoder: BertConfig  # architecture of the encoder
    decoder: BertConfig  # architecture of the decoder (hidden_size must equal the encoder's)
    decoder_start_token_id: int  # first decoder input ([CLS] for a BERT vocabulary)
    eos_token_id: int  # token that ends a target ([SEP])
    pad_token_id: int  # padding of source and target batches ([PAD])
    share: bool = False  # decoder reuses the encoder's embeddings, self-attention and FFN

    def __post_init__(self) -> None:
        if self.encoder.hidden_size != self.decoder.hidden_size:
            raise ConfigError(
                f"encoder hidden_size {self.encoder.hidden_size} differs from the decoder's "
                f"{self.decoder.hidden_size}; bertkit's BERT2BERT needs equal widths"
            )
        for name in ("decoder_start_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < self.decoder.vocab_size:
                raise ConfigError(f"{name} {value!r} is not a token id of the decoder vocabulary")
        if self.share and _architecture(self.encoder) != _architecture(self.decoder):
            raise ConfigError("a shared encoder-decoder needs identical encoder/decoder configs")


class EncoderDecoder(nn.Module):
    """BERT encoder + BERT decoder; `forward` returns the teacher-forced loss and logits."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        # Other config.json keys (e.g. generation defaults), written back on save.
        self.config_extra: dict = {}
        # The pooler is not used by seq2seq; it is kept (frozen) so that a checkpoint round
        # trip and a transformers EncoderDecoderModel load lose nothing.
        self.encoder = BertModel(config.encoder, add_pooler=True)
        self.encoder.pooler.requires_grad_(False)
        self.decoder = BertDecoder(config.decoder)
        self.init_weights()
        if config.share:
            self.tie_encoder_decoder()

    def init_weights(self, module: nn.Module | None = None) -> None:
        """BERT's normal(0, initializer_range) init, zero biases and unit LayerNorms."""
        std = self.config.decoder.initializer_range
        for submodule in (module or self).modules():
            if isinstance(submodule, (nn.Linear, nn.Embedding)):
                nn.init.normal_(submodule.weight, std=std)
                if isinstance(submodule, nn.Linear) and submodule.bias is not None:
                    nn.init.zeros_(submodule.bias)
                if isinstance(submodule, nn.Embedding) and submodule.padding_idx is not None:
                    with torch.no_grad():
                        submodule.weight[submodule.padding_idx].zero_()
            elif isinstance(submodule, nn.LayerNorm):
                nn.init.ones_(submodule.weight)
                nn.init.zeros_(submodule.bias)
        if module is None:
            nn.init.zeros_(self.decoder.lm_head.bias)

    def tie_encoder_decoder(self) -> None:
        """Make the decoder use the encoder's embeddings, self-attention and feed-forward."""
        self.decoder.embeddings = self.encoder.embeddings
        for encoder_layer, decoder_layer in zip(
            self.encoder.encoder.layers, self.decoder.layers, strict=True
        ):
            decoder_layer.attention.qkv = encoder_layer.attention.qkv
            decoder_layer.attention.out = encoder_layer.attention.out
            decoder_layer.attention_norm = encoder_layer.attention_norm
            decoder_layer.ffn = encoder_layer.ffn
            decoder_layer.ffn_norm = encoder_layer.ffn_norm

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder output (B, S, H) and the additive source bias (B, 1, 1, S) for cross-attn."""
        memory, _ = self.encoder(input_ids, attention_mask)
        bias = attention_bias(attention_mask, memory.dtype) if attention_mask is not None else None
        return memory, bias

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, S) source tokens
        attention_mask: torch.Tensor | None = None,  # (B, S) 1 real token, 0 padding
        decoder_input_ids: torch.Tensor | None = None,  # (B, T) start token + target prefix
        labels: torch.Tensor | None = None,  # (B, T) next tokens; IGNORE_INDEX at padding
    ) -> ModelOutput:
        """Teacher-forced decoding. With labels, the mean loss over non-padding target tokens.

        `decoder_input_ids` defaults to the labels shifted right behind the start token. With
        labels, only labelled positions are projected onto the vocabulary and `logits` is
        (num_labelled, vocab); without, it is (B, T, vocab).
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ConfigError("give decoder_input_ids or labels to run the decoder")
            decoder_input_ids = self.shift_right(labels)
        memory, bias = self.encode(input_ids, attention_mask)
        hidden = self.decoder(decoder_input_ids, memory, bias)  # (B, T, H)
        if labels is None:
            return ModelOutput(logits=self.decoder.logits(hidden), last_hidden_state=hidden)
        selected = labels != IGNORE_INDEX  # (B, T)
        logits = self.decoder.logits(hidden[selected])  # (N, vocab)
        targets = labels[selected]
        loss = F.cross_entropy(logits.float(), targets) if targets.numel() else logits.sum() * 0
        return ModelOutput(loss=loss, num_loss_items=selected.sum(), logits=logits)

    def shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder inputs for `labels` (B, T): the start token, then labels[:, :-1]."""
        shifted = labels.new_full(labels.shape, self.config.decoder_start_token_id)
        shifted[:, 1:] = labels[:, :-1]
        return shifted.masked_fill(shifted == IGNORE_INDEX, self.config.pad_token_id)

    def start_decoding(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[DecoderCache, torch.Tensor | None]:
        """Encode once and return the decoder cache (cross-attention filled) and source bias."""
        memory, bias = self.encode(input_ids, attention_mask)
        return self.decoder.new_cache(memory), bias

    def decode_step(
        self,
        tokens: torch.Tensor,  # (B, T) tokens not yet in the cache (T = 1 after the first call)
        cache: DecoderCache,
        memory_bias: torch.Tensor | None,
    ) -> torch.Tensor:
        """Logits (B, vocab) for the token after `tokens`, extending `cache`."""
        hidden = self.decoder(tokens, None, memory_bias, cache)
        return self.decoder.logits(hidden[:, -1])


def _architecture(config: BertConfig) -> dict:
    """The fields that shape the weights and the computation (not names or labels)."""
    fields = dataclasses.asdict(config)
    for name in ("extra", "id2label", "label2id", "classifier_dropout"):
        fields.pop(name)
    return fields
