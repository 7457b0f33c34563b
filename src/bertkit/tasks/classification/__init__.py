"""Text and text-pair classification: data reading, fine-tuning, metrics and prediction."""

from bertkit.tasks.classification.evaluate import classification_report
from bertkit.tasks.classification.predict import TextClassifier
from bertkit.tasks.classification.train import ClassificationOptions, FinetuneResult, finetune

__all__ = [
    "ClassificationOptions",
    "FinetuneResult",
    "TextClassifier",
    "classification_report",
    "finetune",
]
