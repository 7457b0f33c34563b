"""The BERT encoder: embeddings, post-LayerNorm Transformer layers and the pooler.

Shapes in comments: B batch, T tokens, H hidden_size, nh heads, hs head size (H / nh).
Self-attention runs through `F.scaled_dot_product_attention`, which picks a fused kernel
(flash or memory-efficient on GPU, a fused CPU kernel otherwise) and falls back to the math
path by itself; query, key and value come from one fused projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.config import BertConfig
from bertkit.errors import InputError

ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


class Embeddings(nn.Module):
    """Sum of word, position and token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T)
        token_type_ids: torch.Tensor | None = None,  # (B, T)
        position_ids: torch.Tensor | None = None,  # (B, T) or (T,)
    ) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(seq_len, device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embedded = (
            self.word(input_ids) + self.position(position_ids) + self.token_type(token_type_ids)
        )
        return self.dropout(self.norm(embedded))  # (B, T, H)


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused query/key/value projection."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_probs_dropout_prob

    def forward(self, hidden: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        batch, seq_len, width = hidden.shape
        qkv = self.qkv(hidden).view(batch, seq_len, 3, self.num_heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        context = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attention_bias,  # (B, 1, 1, T) additive, 0 for real keys
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        context = context.transpose(1, 2).reshape(batch, seq_len, width)  # (B, T, H)
        return self.out(context)


class FeedForward(nn.Module):
    """Position-wise feed-forward block: H -> intermediate_size -> H."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.down(self.activation(self.up(hidden)))


class EncoderLayer(nn.Module):
    """One post-LayerNorm Transformer layer, as in the original BERT."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        hidden = self.attention_norm(hidden + self.dropout(self.attention(hidden, attention_bias)))
        return self.ffn_norm(hidden + self.dropout(self.ffn(hidden)))


class Encoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layers:
            hidden = layer(hidden, attention_bias)
        return hidden


class Pooler(nn.Module):
    """tanh(W h_[CLS] + b): the sentence vector BERT's classification head reads."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """The bare encoder: token ids in, contextual vectors (and the pooled [CLS]) out."""

    def __init__(self, config: BertConfig, add_pooler: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config) if add_pooler else None

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T)
        attention_mask: torch.Tensor | None = None,  # (B, T), 1 real token, 0 padding
        token_type_ids: torch.Tensor | None = None,  # (B, T)
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return (last hidden states (B, T, H), pooled output (B, H) or None)."""
        check_inputs(self.config, input_ids, token_type_ids, position_ids)
        hidden = self.embeddings(input_ids, token_type_ids, position_ids)
        bias = attention_bias(attention_mask, hidden.dtype) if attention_mask is not None else None
        hidden = self.encoder(hidden, bias)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return hidden, pooled


def attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Turn a (B, T) 0/1 mask into an additive (B, 1, 1, T) bias for every query.

    Padded keys get the dtype's most negative finite value rather than -inf, so a row that is
    all padding gives uniform attention instead of NaN; real tokens never attend to padding.
    """
    if not dtype.is_floating_point:
        dtype = torch.float32
    bias = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    bias.masked_fill_(attention_mask == 0, torch.finfo(dtype).min)
    return bias[:, None, None, :]


def check_inputs(
    config: BertConfig,
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None,
    position_ids: torch.Tensor | None = None,
) -> None:
    """Raise a clear error where the embedding tables would otherwise fail on an index.

    Shapes are always checked. Id values are checked for CPU tensors only: on an accelerator
    reading them back would stall every forward pass, and there the tokenizer-versus-model
    check at load time (`pretrained.check_vocabulary`) guards the usual path.
    """
    if torch.compiler.is_compiling():
        return  # value checks would break the compiled graph; eager calls have run them
    if input_ids.dim() != 2:
        raise InputError(f"input_ids must have shape (batch, tokens), got {tuple(input_ids.shape)}")
    seq_len = input_ids.shape[1]
    if seq_len > config.max_position_embeddings:
        raise InputError(
            f"input has {seq_len} tokens but this model accepts at most "
            f"{config.max_position_embeddings} (max_position_embeddings); truncate the text "
            f"(e.g. --max-length {config.max_position_embeddings}) or split it into windows"
        )
    for name, tensor in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
        if tensor is not None and tensor.shape[-1] != seq_len:
            raise InputError(f"{name} has {tensor.shape[-1]} positions but input_ids has {seq_len}")
    if input_ids.device.type != "cpu":
        return
    _check_range(
        input_ids,
        config.vocab_size,
        "token id",
        "vocabulary (vocab_size)",
        "the tokenizer does not match this model",
    )
    _check_range(
        token_type_ids,
        config.type_vocab_size,
        "token_type_id",
        "type_vocab_size",
        "this model knows fewer segments",
    )
    _check_range(
        position_ids,
        config.max_position_embeddings,
        "position id",
        "max_position_embeddings",
        "positions must count from 0",
    )


def _check_range(ids: torch.Tensor | None, size: int, what: str, table: str, hint: str) -> None:
    if ids is None or not ids.numel():
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise InputError(f"{what} {bad} is outside the model's {table} of {size}; {hint}")
