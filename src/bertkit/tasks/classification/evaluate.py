"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.

Computed with numpy from class ids, with scikit-learn's conventions: a class that is never
predicted (or never present) gets precision (or recall) 0, and macro-F1 averages the per-class
F1 over every class the model knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_report(
    gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """A JSON-ready report for gold and predicted class ids over `labels` (id order)."""
    gold_ids = np.asarray(gold, dtype=np.int64)
    predicted_ids = np.asarray(predicted, dtype=np.int64)
    if gold_ids.shape != predicted_ids.shape or gold_ids.size == 0:
        raise ValueError("gold and predicted must be non-empty and of equal length")
    num_labels = len(labels)
    # confusion[g, p]: rows are gold classes, columns predicted classes.
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (gold_ids, predicted_ids), 1)

    true_positives = np.diag(confusion).astype(np.float64)
    predicted_counts = confusion.sum(axis=0).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _safe_divide(true_positives, predicted_counts)
    recall = _safe_divide(true_positives, support.astype(np.float64))
    f1 = _safe_divide(2 * precision * recall, precision + recall)

    per_class = {
        label: {
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(support[index]),
        }
        for index, label in enumerate(labels)
    }
    return {
        "examples": int(gold_ids.size),
        "accuracy": float(true_positives.sum() / gold_ids.size),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": confusion.tolist(),
    }


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    result = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result


def format_report(report: dict[str, Any]) -> str:
    """The report as an aligned text table, then the confusion matrix (rows = gold)."""
    labels = report["labels"]
    width = max(12, *(len(label) for label in labels))
    lines = [
        f"examples  {report['examples']}",
        f"accuracy  {report['accuracy']:.4f}",
        f"macro-F1  {report['macro_f1']:.4f}",
        "",
        f"{'class':<{width}}  precision  recall     f1  support",
    ]
    for label in labels:
        row = report["per_class"][label]
        lines.append(
            f"{label:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:5.4f}"
            f"  {row['support']:7d}"
        )
    lines += ["", "confusion matrix (rows: gold, columns: predicted)"]
    cell = max(7, *(len(label) for label in labels))
    lines.append(" " * width + "".join(f"  {label[:cell]:>{cell}}" for label in labels))
    for label, row in zip(labels, report["confusion_matrix"], strict=True):
        lines.append(f"{label:<{width}}" + "".join(f"  {count:>{cell}d}" for count in row))
    return "\n".join(lines)
