"""Sentence embeddings: mean-pooled (or [CLS]) encoder outputs, optionally L2-normalised."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bertkit.errors import InputError
from bertkit.inference import mean_pool, run_batched
from bertkit.model.heads import BertPreTrainedModel
from bertkit.pretrained import load_pretrained
from bertkit.tokenization import Tokenizer

POOLING = ("mean", "cls")


class SentenceEncoder:
    """Turns texts into fixed-size vectors with a BERT encoder."""

    def __init__(self, model: BertPreTrainedModel, tokenizer: Tokenizer, pooling: str = "mean"):
        if pooling not in POOLING:
            raise InputError(f"pooling must be one of {', '.join(POOLING)}, got {pooling!r}")
        self.model, self.tokenizer, self.pooling = model, tokenizer, pooling

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, pooling: str = "mean"):
        model, tokenizer, _ = load_pretrained(name_or_path, "encoder")
        return cls(model, tokenizer, pooling)

    @property
    def dimension(self) -> int:
        return self.model.config.hidden_size

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        truncate: bool = True,
        normalize: bool = False,
        precision: str = "fp32",
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """An (N, hidden_size) float32 array, one row per text, in input order."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)

        def pool(output, batch):
            hidden = output.last_hidden_state.float()
            if self.pooling == "cls":
                vectors = hidden[:, 0]
            else:
                vectors = mean_pool(hidden, batch["attention_mask"])
            if normalize:
                vectors = F.normalize(vectors, dim=-1)
            return list(vectors.cpu().numpy())

        rows = run_batched(
            self.model,
            self.tokenizer,
            texts,
            pool,
            batch_size=batch_size,
            max_length=max_length,
            truncate=truncate,
            precision=precision,
            progress=progress,
        )
        return np.stack(rows).astype(np.float32)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = torch.as_tensor(a, dtype=torch.float32)
    b = torch.as_tensor(b, dtype=torch.float32)
    return (F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T).numpy()
