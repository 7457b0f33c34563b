"""Tiny models and datasets that follow the ModelOutput contract, for the trainer tests."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bertkit.model.outputs import ModelOutput

VOCAB = 11
NUM_CLASSES = 3


class TinyClassifier(nn.Module):
    """Mean-pooled embeddings -> LayerNorm -> dropout -> linear; loss ignores label -100."""

    def __init__(self, hidden_size: int = 8, dropout: float = 0.0):
        super().__init__()
        self.embeddings = nn.Embedding(VOCAB, hidden_size)
        self.blocks = nn.ModuleList([nn.Linear(hidden_size, hidden_size) for _ in range(2)])
        self.norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, NUM_CLASSES)

    def forward(self, input_ids, attention_mask, labels=None):
        hidden = self.embeddings(input_ids)  # (B, T, H)
        mask = attention_mask.unsqueeze(-1).float()  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, H)
        for block in self.blocks:
            pooled = pooled + torch.tanh(block(pooled))
        logits = self.classifier(self.dropout(self.norm(pooled)))  # (B, C)
        if labels is None:
            return ModelOutput(logits=logits)
        loss = F.cross_entropy(logits, labels, ignore_index=-100)
        return ModelOutput(loss=loss, num_loss_items=(labels != -100).sum(), logits=logits)


class TinyDataset(torch.utils.data.Dataset):
    """Deterministic token sequences of varying length; some labels are -100 (unlabelled)."""

    def __init__(self, size: int = 32, seq_len: int = 6, unlabelled_every: int = 0, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(1, VOCAB, (size, seq_len), generator=generator)
        lengths = torch.randint(2, seq_len + 1, (size,), generator=generator)
        self.attention_mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
        self.labels = self.input_ids[:, 0] % NUM_CLASSES
        if unlabelled_every:
            self.labels[::unlabelled_every] = -100

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "labels": self.labels[index],
        }


def tiny_model(seed: int = 0, dropout: float = 0.0) -> TinyClassifier:
    torch.manual_seed(seed)
    return TinyClassifier(dropout=dropout)


def full_batch(dataset: TinyDataset) -> dict[str, torch.Tensor]:
    return {
        "input_ids": dataset.input_ids,
        "attention_mask": dataset.attention_mask,
        "labels": dataset.labels,
    }


def make_evaluate_fn(dataset: TinyDataset):
    """evaluate_fn reporting loss and accuracy of `model` on the whole of `dataset`."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        batch = full_batch(dataset)
        output = model(**batch)
        correct = (output.logits.argmax(-1) == batch["labels"]).float().mean()
        return {"loss": output.loss.item(), "accuracy": correct.item()}

    return evaluate


def read_csv(path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def train_columns(path) -> list[tuple[int, float, float]]:
    """(step, loss, lr) of every metrics row that carries a train loss."""
    return [
        (int(row["step"]), float(row["loss"]), float(row["lr"]))
        for row in read_csv(path)
        if row.get("loss")
    ]


def subprocess_env() -> dict[str, str]:
    """Environment for child Pythons that import bertkit and these helpers from source."""
    import os
    from pathlib import Path

    import bertkit

    source_root = Path(bertkit.__file__).resolve().parents[1]
    here = Path(__file__).resolve().parent
    paths = [str(source_root), str(here), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p), OMP_NUM_THREADS="1")


def flatten(rows: list[tuple]) -> list[float]:
    """Rows of numbers as one flat list, for pytest.approx (which does not nest)."""
    return [float(value) for row in rows for value in row]
