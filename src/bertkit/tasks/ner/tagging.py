"""Running a token-classification model over word sequences: tags per word, and scoring.

Shared by the trainer's evaluation, `bertkit evaluate`, and the EntityTagger. Sentences are
windowed (see alignment.py), windows run in length-sorted batches, and each word takes the
prediction at its first piece in the window that owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertkit.errors import InputError
from bertkit.inference import autocast_context, length_sorted_batches
from bertkit.model.heads import BertForTokenClassification
from bertkit.tasks.ner.alignment import DEFAULT_OVERLAP, Collator, build_features
from bertkit.tasks.ner.data import Sentence, check_tags
from bertkit.tasks.ner.metrics import NerReport, entity_scores
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)


@dataclass
class TaggedWords:
    """Per sentence, the predicted tag id and its probability for every word."""

    tag_ids: list[list[int]]
    confidences: list[list[float]]
    loss: float | None  # mean cross-entropy over words, when gold tags were given


def model_labels(model: BertForTokenClassification) -> list[str]:
    """The tag names of the model's classification head, in id order."""
    id2label = model.config.id2label
    if not id2label:
        raise InputError("the model has no label names (id2label); it was not fine-tuned for NER")
    return [id2label[index] for index in range(len(id2label))]


def tag_words(
    model: BertForTokenClassification,
    tokenizer: Tokenizer,
    sentences: Sequence[Sequence[str]],
    *,
    max_length: int,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = 32,
    precision: str = "fp32",
    gold_tag_ids: Sequence[Sequence[int]] | None = None,
) -> TaggedWords:
    """Predict one tag per word of every sentence (and the loss when gold tags are given)."""
    max_length = min(max_length, model.config.max_position_embeddings)
    features = build_features(tokenizer, sentences, max_length, gold_tag_ids, overlap)
    tag_ids = [[0] * len(words) for words in sentences]
    confidences = [[0.0] * len(words) for words in sentences]
    collate = Collator(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    loss_sum, loss_items = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast_context(device, precision):
        lengths = [len(feature.input_ids) for feature in features]
        for indices in length_sorted_batches(lengths, batch_size):
            batch_features = [features[index] for index in indices]
            batch = collate(
                [{"input_ids": f.input_ids, "labels": f.labels} for f in batch_features]
            )
            batch = {key: value.to(device) for key, value in batch.items()}
            output = model(**batch)
            if output.loss is not None:
                items = int(output.num_loss_items)
                loss_sum += float(output.loss) * items
                loss_items += items
            probabilities = output.logits.float().softmax(-1).cpu()  # (B, T, num_labels)
            best_probability, best_tag = probabilities.max(-1)  # each (B, T)
            for row, feature in enumerate(batch_features):
                for offset, position in enumerate(feature.word_positions):
                    if feature.owned[offset]:
                        word = feature.word_start + offset
                        tag_ids[feature.sentence][word] = int(best_tag[row, position])
                        confidences[feature.sentence][word] = float(best_probability[row, position])
    model.train(was_training)
    loss = loss_sum / loss_items if loss_items else None
    return TaggedWords(tag_ids, confidences, loss)


def evaluate_sentences(
    model: BertForTokenClassification,
    tokenizer: Tokenizer,
    sentences: Sequence[Sentence],
    *,
    max_length: int,
    scheme: str = "bio",
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = 32,
    precision: str = "fp32",
) -> tuple[NerReport, float | None]:
    """Entity-level scores of the model on labelled sentences, and the mean word loss."""
    labels = model_labels(model)
    check_tags(sentences, labels)
    label_ids = {label: index for index, label in enumerate(labels)}
    gold = [sentence.tags for sentence in sentences]
    tagged = tag_words(
        model,
        tokenizer,
        [sentence.words for sentence in sentences],
        max_length=max_length,
        overlap=overlap,
        batch_size=batch_size,
        precision=precision,
        gold_tag_ids=[[label_ids[tag] for tag in tags] for tags in gold],
    )
    predicted = [[labels[index] for index in ids] for ids in tagged.tag_ids]
    return entity_scores(gold, predicted, scheme), tagged.loss
