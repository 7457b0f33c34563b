"""The BERT decoder of a BERT2BERT encoder-decoder (Rothe, Narayan & Severyn, 2020).

Each layer is a BERT encoder layer whose self-attention is causal, with a cross-attention
block over the encoder's output inserted after it (post-LayerNorm, as in BERT and in
Hugging Face's `BertLMHeadModel` with `add_cross_attention`). The self-attention, feed-forward
and embedding modules are bertkit's encoder modules, so a pretrained BERT checkpoint fills
them directly; only the cross-attention blocks start from random weights. The output layer is
BERT's masked-LM head, tied to the decoder's word embeddings.

Generation keeps a `DecoderCache`: per layer the self-attention keys/values of every token
decoded so far, and the cross-attention keys/values of the encoder output, computed once.

Shapes in comments: B batch, T new target tokens, P cached target tokens, S source tokens,
H hidden_size, nh heads, hs head size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.config import BertConfig
from bertkit.errors import InputError
from bertkit.model.encoder import Embeddings, FeedForward, SelfAttention
from bertkit.model.heads import MaskedLMHead


@dataclass
class DecoderCache:
    """Keys and values that incremental decoding reuses, one entry per decoder layer."""

    self_keys: list[torch.Tensor | None] = field(default_factory=list)  # each (B, nh, P, hs)
    self_values: list[torch.Tensor | None] = field(default_factory=list)
    cross_keys: list[torch.Tensor] = field(default_factory=list)  # each (B, nh, S, hs)
    cross_values: list[torch.Tensor] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Target tokens already decoded (P)."""
        first = self.self_keys[0] if self.self_keys else None
        return 0 if first is None else first.shape[2]

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep batch rows `rows` (B',) in that order: beam search follows surviving beams."""
        for cached in (self.self_keys, self.self_values, self.cross_keys, self.cross_values):
            for index, tensor in enumerate(cached):
                if tensor is not None:
                    cached[index] = tensor.index_select(0, rows)


class CausalSelfAttention(SelfAttention):
    """The encoder's fused-qkv self-attention, made causal, with an optional key/value cache.

    It keeps the parameters (and their names) of `SelfAttention`, so a BERT checkpoint's
    self-attention weights load unchanged.
    """

    def forward(  # type: ignore[override]
        self,
        hidden: torch.Tensor,  # (B, T, H)
        cache: DecoderCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        batch, seq_len, width = hidden.shape
        qkv = self.qkv(hidden).view(batch, seq_len, 3, self.num_heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        past = 0
        if cache is not None:
            if cache.self_keys[layer] is not None:
                past = cache.self_keys[layer].shape[2]
                key = torch.cat([cache.self_keys[layer], key], dim=2)  # (B, nh, P+T, hs)
                value = torch.cat([cache.self_values[layer], value], dim=2)
            cache.self_keys[layer], cache.self_values[layer] = key, value
        mask, causal = None, False
        if past == 0:
            causal = seq_len > 1
        elif seq_len > 1:
            # New token t (0-based) sees every cached token and new tokens 0..t.
            mask = torch.ones(seq_len, past + seq_len, dtype=torch.bool, device=hidden.device)
            mask = mask.tril(diagonal=past)
        context = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=mask,
            is_causal=causal,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        context = context.transpose(1, 2).reshape(batch, seq_len, width)  # (B, T, H)
        return self.out(context)


class CrossAttention(nn.Module):
    """Multi-head attention from decoder queries to the encoder's output (keys and values)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key_value = nn.Linear(config.hidden_size, 2 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_probs_dropout_prob

    def project_memory(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (each (B, nh, S, hs)) of the encoder output `memory` (B, S, H)."""
        batch, source_len, _ = memory.shape
        key_value = self.key_value(memory).view(
            batch, source_len, 2, self.num_heads, self.head_size
        )
        key, value = key_value.permute(2, 0, 3, 1, 4).unbind(0)
        return key, value

    def forward(
        self,
        hidden: torch.Tensor,  # (B, T, H)
        key: torch.Tensor,  # (B, nh, S, hs)
        value: torch.Tensor,  # (B, nh, S, hs)
        memory_bias: torch.Tensor | None,  # (B, 1, 1, S) additive, 0 for real source tokens
    ) -> torch.Tensor:
        batch, seq_len, width = hidden.shape
        query = self.query(hidden).view(batch, seq_len, self.num_heads, self.head_size)
        context = F.scaled_dot_product_attention(
            query.transpose(1, 2),  # (B, nh, T, hs)
            key,
            value,
            attn_mask=memory_bias,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        context = context.transpose(1, 2).reshape(batch, seq_len, width)  # (B, T, H)
        return self.out(context)


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention, feed-forward; each residual + LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = CausalSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.cross_attention = CrossAttention(config)
        self.cross_attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        hidden: torch.Tensor,  # (B, T, H)
        memory_key: torch.Tensor,  # (B, nh, S, hs)
        memory_value: torch.Tensor,
        memory_bias: torch.Tensor | None,
        cache: DecoderCache | None,
        layer: int,
    ) -> torch.Tensor:
        attended = self.attention(hidden, cache, layer)
        hidden = self.attention_norm(hidden + self.dropout(attended))
        crossed = self.cross_attention(hidden, memory_key, memory_value, memory_bias)
        hidden = self.cross_attention_norm(hidden + self.dropout(crossed))
        return self.ffn_norm(hidden + self.dropout(self.ffn(hidden)))


class BertDecoder(nn.Module):
    """Embeddings, causal layers with cross-attention, and the tied masked-LM output head."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.lm_head = MaskedLMHead(config)

    def new_cache(self, memory: torch.Tensor) -> DecoderCache:
        """A cache holding every layer's cross-attention keys/values of `memory` (B, S, H)."""
        cache = DecoderCache()
        for layer in self.layers:
            key, value = layer.cross_attention.project_memory(memory)
            cache.cross_keys.append(key)
            cache.cross_values.append(value)
            cache.self_keys.append(None)
            cache.self_values.append(None)
        return cache

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T) target tokens, starting with the start token
        memory: torch.Tensor | None,  # (B, S, H) encoder output; None when `cache` holds it
        memory_bias: torch.Tensor | None,  # (B, 1, 1, S)
        cache: DecoderCache | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, T, H) of the new tokens; `cache`, if given, is extended."""
        past = cache.length if cache is not None else 0
        total = past + input_ids.shape[1]
        if total > self.config.max_position_embeddings:
            raise InputError(
                f"the target would reach {total} tokens but the decoder has "
                f"{self.config.max_position_embeddings} positions (max_position_embeddings); "
                "lower the maximum target/generation length"
            )
        positions = torch.arange(past, total, device=input_ids.device)
        hidden = self.embeddings(input_ids, position_ids=positions)  # (B, T, H)
        for index, layer in enumerate(self.layers):
            if cache is not None:
                key, value = cache.cross_keys[index], cache.cross_values[index]
            else:
                key, value = layer.cross_attention.project_memory(memory)
            hidden = layer(hidden, key, value, memory_bias, cache, index)
        return hidden

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary scores (..., vocab) of hidden states (..., H), tied to the embeddings."""
        return self.lm_head(hidden, self.embeddings.word.weight)
