"""bertkit: BERT end to end, from WordPiece and masked-LM pretraining to fine-tuning and serving.

The top level holds the core: `load_pretrained(name_or_path, task)` returns a model, its
tokenizer and a load report; `SentenceEncoder` embeds texts; the task packages live under
`bertkit.tasks`, the trainer under `bertkit.training`.
"""

from bertkit.checkpoint import load_model, save_model
from bertkit.config import BertConfig
from bertkit.embeddings import SentenceEncoder
from bertkit.errors import BertkitError
from bertkit.model import (
    BertEncoderModel,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    ModelOutput,
)
from bertkit.pretrained import load_pretrained
from bertkit.tokenization import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "BertConfig",
    "BertEncoderModel",
    "BertForMaskedLM",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "BertkitError",
    "ModelOutput",
    "SentenceEncoder",
    "Tokenizer",
    "load_model",
    "load_pretrained",
    "save_model",
]
