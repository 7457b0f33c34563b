"""Load a model and its tokenizer from a folder or a known name, and check they agree."""

from __future__ import annotations

import logging
import os

import torch

from bertkit.checkpoint import LoadReport, load_model
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError
from bertkit.hub import resolve_model
from bertkit.model.heads import BertPreTrainedModel
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)


def load_pretrained(
    name_or_path: str | os.PathLike,
    task: str | type[BertPreTrainedModel] = "encoder",
    *,
    labels: list[str] | None = None,
    allow_missing: bool = False,
    new_heads_expected: bool = False,
    seed: int | None = None,
) -> tuple[BertPreTrainedModel, Tokenizer, LoadReport]:
    """Model for `task`, its tokenizer and the load report, from a folder or a model name.

    Fine-tuning passes `new_heads_expected=True`: a head it is about to train, missing from
    the checkpoint, is then logged at INFO rather than warned about (see `load_state_into`).
    With `seed`, newly initialised weights are drawn from that seed (so a run's --seed decides
    its new head), leaving the caller's random state as it was.
    """
    folder = resolve_model(name_or_path)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model, report = load_model(
            folder,
            task,
            labels=labels,
            allow_missing=allow_missing,
            new_heads_expected=new_heads_expected,
        )
    tokenizer = Tokenizer.from_pretrained(folder)
    check_vocabulary(tokenizer, model.config, str(folder))
    model.eval()
    return model, tokenizer, report


def check_vocabulary(tokenizer: Tokenizer, config: BertConfig, source: str = "model") -> None:
    """A tokenizer whose ids overflow the embedding table can only fail later: fail now."""
    needed_rows = max(tokenizer.get_vocab().values()) + 1  # ids, not entries: lines may repeat
    if needed_rows > config.vocab_size:
        raise CheckpointError(
            f"{source}: the tokenizer has {needed_rows} tokens but the model's "
            f"embedding has {config.vocab_size} rows (vocab_size); the vocabulary does not "
            "belong to these weights"
        )
    if needed_rows < config.vocab_size:
        logger.debug(
            "%s: tokenizer has %d tokens, embedding %d rows (padded vocabulary)",
            source,
            needed_rows,
            config.vocab_size,
        )
