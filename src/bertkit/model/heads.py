"""Task models: the encoder plus a masked-LM, sequence, token or span head.

Each returns a ModelOutput; given labels it also returns the mean loss and how many labelled
items it was averaged over. Labels equal to IGNORE_INDEX are left out of every loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.config import BertConfig
from bertkit.model.encoder import ACTIVATIONS, BertModel
from bertkit.model.outputs import ModelOutput

IGNORE_INDEX = -100


class BertPreTrainedModel(nn.Module):
    """Shared init and the `bert` encoder attribute that every task model has."""

    add_pooler = False

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooler=self.add_pooler)

    def init_weights(self, module: nn.Module | None = None) -> None:
        """BERT's init: normal(0, initializer_range) weights, zero biases, unit LayerNorm."""
        for submodule in (module or self).modules():
            if isinstance(submodule, (nn.Linear, nn.Embedding)):
                nn.init.normal_(submodule.weight, std=self.config.initializer_range)
                if isinstance(submodule, nn.Linear) and submodule.bias is not None:
                    nn.init.zeros_(submodule.bias)
                if isinstance(submodule, nn.Embedding) and submodule.padding_idx is not None:
                    with torch.no_grad():
                        submodule.weight[submodule.padding_idx].zero_()
            elif isinstance(submodule, nn.LayerNorm):
                nn.init.ones_(submodule.weight)
                nn.init.zeros_(submodule.bias)
        if isinstance(self, BertForMaskedLM) and module is None:
            nn.init.zeros_(self.mlm_head.bias)

    def head_modules(self) -> dict[str, nn.Module]:
        """The task head's modules by attribute name (empty for the bare encoder)."""
        return {}

    def dropout_for_head(self) -> nn.Dropout:
        rate = self.config.classifier_dropout
        return nn.Dropout(self.config.hidden_dropout_prob if rate is None else rate)


class BertEncoderModel(BertPreTrainedModel):
    """The bare encoder with its pooler, returning hidden states in a ModelOutput."""

    add_pooler = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        hidden, pooled = self.bert(input_ids, attention_mask, token_type_ids, position_ids)
        return ModelOutput(last_hidden_state=hidden, pooler_output=pooled)


class MaskedLMHead(nn.Module):
    """Transform (dense, activation, LayerNorm), then a decoder tied to the word embeddings."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
        """Score `hidden` (..., H) against the (vocab, H) word-embedding matrix."""
        hidden = self.norm(self.activation(self.transform(hidden)))
        return F.linear(hidden, decoder_weight, self.bias)  # (..., vocab)


class BertForMaskedLM(BertPreTrainedModel):
    """BERT with the masked-language-model head.

    With `labels` (B, T), only the labelled (masked) positions are gathered and projected onto
    the vocabulary: about 15% of the positions, which saves most of the largest matmul. Then
    `logits` is (num_masked, vocab) in row-major order of those positions. Without labels,
    `logits` is (B, T, vocab), or (num_positions, vocab) when `masked_positions` (a boolean
    (B, T) tensor) picks the positions to score, as fill-mask does.
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.mlm_head = MaskedLMHead(config)
        self.init_weights()

    def head_modules(self) -> dict[str, nn.Module]:
        return {"mlm_head": self.mlm_head}

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
    ) -> ModelOutput:
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids, position_ids)
        decoder_weight = self.bert.embeddings.word.weight  # tied input/output embeddings
        if labels is not None:
            selected = labels != IGNORE_INDEX  # (B, T)
            logits = self.mlm_head(hidden[selected], decoder_weight)  # (N, vocab)
            targets = labels[selected]
            loss = F.cross_entropy(logits.float(), targets) if targets.numel() else logits.sum() * 0
            return ModelOutput(loss=loss, num_loss_items=selected.sum(), logits=logits)
        if masked_positions is not None:
            return ModelOutput(
                logits=self.mlm_head(hidden[masked_positions.bool()], decoder_weight)
            )
        return ModelOutput(logits=self.mlm_head(hidden, decoder_weight), last_hidden_state=hidden)


class BertForSequenceClassification(BertPreTrainedModel):
    """Pooled [CLS] -> dropout -> linear over `config.num_labels` classes.

    `class_weights`, when set, weights the cross-entropy per class (for imbalanced labels).
    """

    add_pooler = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = self.dropout_for_head()
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.class_weights: torch.Tensor | None = None
        self.init_weights()

    def head_modules(self) -> dict[str, nn.Module]:
        return {"classifier": self.classifier}

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None
    ) -> ModelOutput:
        _, pooled = self.bert(input_ids, attention_mask, token_type_ids, position_ids)
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        if labels is None:
            return ModelOutput(logits=logits)
        weights = None if self.class_weights is None else self.class_weights.to(logits.device)
        loss = F.cross_entropy(logits.float(), labels, weight=weights)
        return ModelOutput(loss=loss, num_loss_items=torch.tensor(labels.numel()), logits=logits)


class BertForTokenClassification(BertPreTrainedModel):
    """Every token's vector -> dropout -> linear over the tag set."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = self.dropout_for_head()
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def head_modules(self) -> dict[str, nn.Module]:
        return {"classifier": self.classifier}

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None
    ) -> ModelOutput:
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids, position_ids)
        logits = self.classifier(self.dropout(hidden))  # (B, T, num_labels)
        if labels is None:
            return ModelOutput(logits=logits)
        labelled = labels != IGNORE_INDEX
        loss = (
            F.cross_entropy(logits[labelled].float(), labels[labelled])
            if labelled.any()
            else (logits.sum() * 0)
        )
        return ModelOutput(loss=loss, num_loss_items=labelled.sum(), logits=logits)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Every token's vector -> linear to (start, end) scores of the answer span."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.span_head = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def head_modules(self) -> dict[str, nn.Module]:
        return {"span_head": self.span_head}

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        start_positions=None,
        end_positions=None,
    ) -> ModelOutput:
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids, position_ids)
        start_logits, end_logits = self.span_head(hidden).unbind(-1)  # each (B, T)
        if start_positions is None or end_positions is None:
            return ModelOutput(start_logits=start_logits, end_logits=end_logits)
        loss = (
            F.cross_entropy(start_logits.float(), start_positions)
            + F.cross_entropy(end_logits.float(), end_positions)
        ) / 2
        return ModelOutput(
            loss=loss,
            num_loss_items=torch.tensor(start_positions.numel()),
            start_logits=start_logits,
            end_logits=end_logits,
        )


TASK_MODELS: dict[str, type[BertPreTrainedModel]] = {
    "encoder": BertEncoderModel,
    "masked-lm": BertForMaskedLM,
    "sequence-classification": BertForSequenceClassification,
    "token-classification": BertForTokenClassification,
    "question-answering": BertForQuestionAnswering,
}
