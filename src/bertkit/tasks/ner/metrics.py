"""Entity-level precision, recall and F1, per entity type and overall.

An entity counts as correct only when its type and its exact word span match a gold entity.
Two ways to read a tag sequence into entities:

- "bio" (lenient, as CoNLL's conlleval script): an entity begins at B-X, or at an I-X that
  does not continue an entity of type X (so IOB1 data, where I- may open an entity, reads
  right too); it extends over the following I-X tags.
- "iob2" (strict): only B-X begins an entity, I-X only continues one of type X; an I- tag that
  continues nothing belongs to no entity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bertkit.errors import InputError
from bertkit.tasks.ner.data import split_tag

SCHEMES = ("bio", "iob2")


@dataclass(frozen=True)
class Span:
    """An entity over words [start, end) of a sentence."""

    type: str
    start: int
    end: int


def extract_spans(tags: Sequence[str], scheme: str = "bio") -> list[Span]:
    """The entities a tag sequence encodes, in order."""
    if scheme not in SCHEMES:
        raise InputError(f"tag scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    spans: list[Span] = []
    current_type: str | None = None  # type of the entity being extended, if any
    start = 0
    for position, tag in enumerate(tags):
        try:
            prefix, entity_type = split_tag(tag)
        except ValueError:
            raise InputError(
                f"tag {tag!r} is not a BIO/IOB2 tag; use O, B-TYPE or I-TYPE"
            ) from None
        continues = prefix == "I" and entity_type == current_type
        if continues:
            continue
        if current_type is not None:
            spans.append(Span(current_type, start, position))
            current_type = None
        opens = prefix == "B" or (prefix == "I" and scheme == "bio")
        if opens:
            current_type, start = entity_type, position
    if current_type is not None:
        spans.append(Span(current_type, start, len(tags)))
    return spans


@dataclass
class TypeScore:
    precision: float
    recall: float
    f1: float
    support: int  # gold entities of this type
    predicted: int  # predicted entities of this type


@dataclass
class NerReport:
    """Micro-averaged overall scores, a macro F1, and the scores of each entity type."""

    precision: float
    recall: float
    f1: float
    macro_f1: float
    token_accuracy: float
    support: int
    predicted: int
    sentences: int
    scheme: str
    per_type: dict[str, TypeScore] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {key: value for key, value in self.__dict__.items() if key != "per_type"}
        data["per_type"] = {name: dict(score.__dict__) for name, score in self.per_type.items()}
        return data

    def metrics(self) -> dict[str, float]:
        """Flat numbers for training logs."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "macro_f1": self.macro_f1,
            "token_accuracy": self.token_accuracy,
        }


def _ratios(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str = "bio"
) -> NerReport:
    """Score predicted tag sequences against gold ones (same sentences, same lengths)."""
    if len(gold) != len(predicted):
        raise InputError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    correct: Counter[str] = Counter()
    gold_counts: Counter[str] = Counter()
    predicted_counts: Counter[str] = Counter()
    tokens = matching_tokens = 0
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_tags) != len(predicted_tags):
            raise InputError(
                f"sentence {index + 1}: {len(gold_tags)} gold tags but {len(predicted_tags)} "
                "predicted ones"
            )
        gold_spans = set(extract_spans(gold_tags, scheme))
        predicted_spans = set(extract_spans(predicted_tags, scheme))
        gold_counts.update(span.type for span in gold_spans)
        predicted_counts.update(span.type for span in predicted_spans)
        correct.update(span.type for span in gold_spans & predicted_spans)
        tokens += len(gold_tags)
        matching_tokens += sum(g == p for g, p in zip(gold_tags, predicted_tags, strict=True))

    per_type = {}
    for entity_type in sorted(set(gold_counts) | set(predicted_counts)):
        precision, recall, f1 = _ratios(
            correct[entity_type], predicted_counts[entity_type], gold_counts[entity_type]
        )
        per_type[entity_type] = TypeScore(
            precision, recall, f1, gold_counts[entity_type], predicted_counts[entity_type]
        )
    total_correct, total_predicted = sum(correct.values()), sum(predicted_counts.values())
    total_gold = sum(gold_counts.values())
    precision, recall, f1 = _ratios(total_correct, total_predicted, total_gold)
    gold_types = [score.f1 for name, score in per_type.items() if gold_counts[name]]
    return NerReport(
        precision=precision,
        recall=recall,
        f1=f1,
        macro_f1=sum(gold_types) / len(gold_types) if gold_types else 0.0,
        token_accuracy=matching_tokens / tokens if tokens else 0.0,
        support=total_gold,
        predicted=total_predicted,
        sentences=len(gold),
        scheme=scheme,
        per_type=per_type,
    )


def format_report(report: NerReport) -> str:
    """A plain-text table: one row per entity type, then the overall micro average."""
    header = ("type", "precision", "recall", "f1", "support", "predicted")
    rows = [f"{header[0]:<16} " + " ".join(f"{name:>9}" for name in header[1:])]
    for name, score in report.per_type.items():
        rows.append(
            f"{name:<16} {score.precision:>9.4f} {score.recall:>9.4f} {score.f1:>9.4f} "
            f"{score.support:>8d} {score.predicted:>9d}"
        )
    rows.append(
        f"{'overall (micro)':<16} {report.precision:>9.4f} {report.recall:>9.4f} "
        f"{report.f1:>9.4f} {report.support:>8d} {report.predicted:>9d}"
    )
    rows.append(
        f"macro F1 {report.macro_f1:.4f}, token accuracy {report.token_accuracy:.4f}, "
        f"{report.sentences} sentences, scheme {report.scheme}"
    )
    return "\n".join(rows)
