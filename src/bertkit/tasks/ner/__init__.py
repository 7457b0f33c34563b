"""Named-entity recognition (token classification): data, alignment, metrics, training, tagging.

from bertkit.tasks.ner import EntityTagger, finetune_ner
"""

from bertkit.tasks.ner.data import Sentence, check_tags, label_set, read_ner_file
from bertkit.tasks.ner.finetune import NerFinetuneResult, finetune_ner
from bertkit.tasks.ner.metrics import NerReport, entity_scores, extract_spans, format_report
from bertkit.tasks.ner.predict import Entity, EntityTagger, split_words

__all__ = [
    "Entity",
    "EntityTagger",
    "NerFinetuneResult",
    "NerReport",
    "Sentence",
    "check_tags",
    "entity_scores",
    "extract_spans",
    "finetune_ner",
    "format_report",
    "label_set",
    "read_ner_file",
    "split_words",
]
