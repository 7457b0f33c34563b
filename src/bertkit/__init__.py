"""bertkit: BERT end to end, from WordPiece and masked-LM pretraining to fine-tuning and serving.

    from bertkit import load_pretrained, SentenceEncoder
    model, tokenizer, report = load_pretrained("minilm", "sequence-classification",
                                               labels=["negative", "positive"])
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
