"""bertkit's own BERT: the encoder, its task heads and the one output type they return."""

from bertkit.model.encoder import BertModel
from bertkit.model.heads import (
    IGNORE_INDEX,
    TASK_MODELS,
    BertEncoderModel,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertPreTrainedModel,
)
from bertkit.model.outputs import ModelOutput

__all__ = [
    "IGNORE_INDEX",
    "TASK_MODELS",
    "BertEncoderModel",
    "BertForMaskedLM",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "BertPreTrainedModel",
    "ModelOutput",
]
