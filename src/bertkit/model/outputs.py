"""The one output type every bertkit model returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModelOutput:
    """What a forward pass produced; fields a model does not compute stay None.

    `loss` is the mean over the positions (or rows) that carry a label, and `num_loss_items`
    counts them, so a trainer can re-weight losses exactly across gradient-accumulation steps
    and data-parallel ranks whose batches hold different numbers of labelled positions.
    """

    loss: torch.Tensor | None = None
    num_loss_items: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
