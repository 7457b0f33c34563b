"""Supervised extractive summarization, BertSum-style: score each sentence in its context.

A document's candidate sentences are packed into windows of at most `max_length` tokens:

    [CLS] sentence 1 [SEP] [CLS] sentence 2 [SEP] [CLS] sentence 3 [SEP] ...
    segment  0 0 0 0 0      1 1 1 1 1 1 1      0 0 0 0 0 0          (alternating per sentence)

Each sentence is cut to `max_sentence_tokens`. The encoder reads the whole window, and a linear
head scores the hidden state at every sentence's [CLS]: one logit per sentence, trained with
binary cross-entropy against greedy-ROUGE oracle labels (oracle.py). A document longer than one
window is split into consecutive windows scored independently, so documents of any length work
(BertSum itself truncates at 512 tokens). At prediction time the sentences are ranked by their
probability; BertSum's trigram blocking skips a sentence that repeats a word trigram of one
already chosen.

The model folder is a complete Hugging Face `BertModel` folder (config.json, model.safetensors,
tokenizer) whose config.json says `"bertkit_task": "summarize"` and holds the packing settings
under `"bertkit_summarization"`; the sentence head lives beside it in
`summarization_head.safetensors`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bertkit.checkpoint import load_config, read_state_dict
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError, ConfigError
from bertkit.inference import autocast_context
from bertkit.io_utils import atomic_write_dir
from bertkit.model.heads import IGNORE_INDEX, BertPreTrainedModel
from bertkit.model.outputs import ModelOutput
from bertkit.tokenization import Tokenizer
from bertkit.weight_names import from_hf, to_hf

logger = logging.getLogger(__name__)

TASK_NAME = "summarize"
SETTINGS_KEY = "bertkit_summarization"
HEAD_FILE = "summarization_head.safetensors"
HEAD_PREFIX = "sentence_head."


@dataclass
class PackingSettings:
    """How sentences are packed into windows; saved with the model so predict matches train."""

    max_length: int = 512  # tokens per window, [CLS]/[SEP] included
    max_sentence_tokens: int = 64  # each sentence is cut to this many word pieces
    min_words: int = 4  # shorter sentences are not candidates (see selection.py)

    @classmethod
    def from_config(cls, config: BertConfig) -> PackingSettings:
        values = config.extra.get(SETTINGS_KEY) or {}
        try:
            return cls(**values)
        except TypeError as error:
            raise ConfigError(f"config.json {SETTINGS_KEY!r} is malformed: {error}") from None


class BertForExtractiveSummarization(BertPreTrainedModel):
    """The encoder plus a linear scorer over the hidden states of each sentence's [CLS].

    The pooler is kept (frozen, unused) so the saved encoder stays a complete `BertModel`.
    """

    add_pooler = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = self.dropout_for_head()
        self.sentence_head = nn.Linear(config.hidden_size, 1)
        self.init_weights()
        for parameter in self.bert.pooler.parameters():
            parameter.requires_grad_(False)

    def head_modules(self) -> dict[str, nn.Module]:
        return {"sentence_head": self.sentence_head}

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        cls_positions: torch.Tensor | None = None,
        sentence_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> ModelOutput:
        """`cls_positions` (B, S): token index of each sentence's [CLS] (padding rows point at
        0); `sentence_mask` (B, S): real sentences; `labels` (B, S): 1/0, IGNORE_INDEX for
        padding. Without `cls_positions` it returns the hidden states only (for embeddings)."""
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids, position_ids)
        if cls_positions is None:
            return ModelOutput(last_hidden_state=hidden)
        index = cls_positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])  # (B, S, H)
        sentence_vectors = hidden.gather(1, index)  # (B, S, H)
        logits = self.sentence_head(self.dropout(sentence_vectors)).squeeze(-1)  # (B, S)
        if labels is None:
            return ModelOutput(logits=logits, last_hidden_state=hidden)
        labelled = labels != IGNORE_INDEX
        if sentence_mask is not None:
            labelled &= sentence_mask.bool()
        if labelled.any():
            loss = F.binary_cross_entropy_with_logits(
                logits[labelled].float(), labels[labelled].float()
            )
        else:
            loss = logits.sum() * 0
        return ModelOutput(loss=loss, num_loss_items=labelled.sum(), logits=logits)


# ---------------------------------------------------------------------- packing


@dataclass
class Window:
    """One encoder input holding consecutive sentences of a document."""

    input_ids: list[int]
    token_type_ids: list[int]
    cls_positions: list[int]  # where each sentence's [CLS] is
    sentences: list[int]  # which candidate sentences (positions in the candidate list)
    labels: list[int] | None = None  # oracle label per sentence, when training


def sentence_token_ids(
    tokenizer: Tokenizer, texts: Sequence[str], max_sentence_tokens: int
) -> list[list[int]]:
    """Word-piece ids of each sentence without special tokens, cut to `max_sentence_tokens`."""
    if not texts:
        return []
    encoded = tokenizer(
        list(texts), add_special_tokens=False, truncation=True, max_length=max_sentence_tokens
    )
    return encoded["input_ids"]


def pack_windows(
    token_ids: Sequence[list[int]],
    cls_id: int,
    sep_id: int,
    max_length: int,
    labels: Sequence[int] | None = None,
) -> list[Window]:
    """Greedily fill windows of at most `max_length` tokens with whole sentences, in order."""
    windows: list[Window] = []
    current = Window([], [], [], [], [] if labels is not None else None)
    for position, ids in enumerate(token_ids):
        ids = ids[: max_length - 2]
        needed = len(ids) + 2
        if current.sentences and len(current.input_ids) + needed > max_length:
            windows.append(current)
            current = Window([], [], [], [], [] if labels is not None else None)
        segment = len(current.sentences) % 2
        current.cls_positions.append(len(current.input_ids))
        current.input_ids.extend([cls_id, *ids, sep_id])
        current.token_type_ids.extend([segment] * needed)
        current.sentences.append(position)
        if labels is not None:
            current.labels.append(int(labels[position]))
    if current.sentences:
        windows.append(current)
    return windows


def collate_windows(windows: Sequence[Window], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad windows into a batch: tokens (B, T), sentence fields (B, S)."""
    width = max(len(window.input_ids) for window in windows)
    slots = max(len(window.sentences) for window in windows)
    batch_size = len(windows)
    input_ids = torch.full((batch_size, width), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((batch_size, width), dtype=torch.long)
    attention_mask = torch.zeros((batch_size, width), dtype=torch.long)
    cls_positions = torch.zeros((batch_size, slots), dtype=torch.long)
    sentence_mask = torch.zeros((batch_size, slots), dtype=torch.bool)
    has_labels = all(window.labels is not None for window in windows)
    labels = torch.full((batch_size, slots), IGNORE_INDEX, dtype=torch.long)
    for row, window in enumerate(windows):
        length, count = len(window.input_ids), len(window.sentences)
        input_ids[row, :length] = torch.tensor(window.input_ids)
        token_type_ids[row, :length] = torch.tensor(window.token_type_ids)
        attention_mask[row, :length] = 1
        cls_positions[row, :count] = torch.tensor(window.cls_positions)
        sentence_mask[row, :count] = True
        if has_labels:
            labels[row, :count] = torch.tensor(window.labels)
    batch = {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "cls_positions": cls_positions,
        "sentence_mask": sentence_mask,
    }
    if has_labels:
        batch["labels"] = labels
    return batch


def score_sentences(
    model: BertForExtractiveSummarization,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    settings: PackingSettings,
    *,
    batch_size: int = 16,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Probability (N,) that each sentence belongs in the summary, in the order given."""
    ids = sentence_token_ids(tokenizer, texts, settings.max_sentence_tokens)
    windows = pack_windows(
        ids, tokenizer.cls_token_id, tokenizer.sep_token_id, _window_length(model, settings)
    )
    scores = np.zeros(len(texts), dtype=np.float32)
    device = next(model.parameters()).device
    model.eval()
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i].input_ids))
    with torch.inference_mode(), autocast_context(device, precision):
        for start in range(0, len(order), batch_size):
            chunk = [windows[i] for i in order[start : start + batch_size]]
            batch = {
                k: v.to(device) for k, v in collate_windows(chunk, tokenizer.pad_token_id).items()
            }
            probabilities = torch.sigmoid(model(**batch).logits.float()).cpu().numpy()
            for row, window in enumerate(chunk):
                scores[window.sentences] = probabilities[row, : len(window.sentences)]
            if progress is not None:
                progress(sum(len(window.sentences) for window in chunk))
    return scores


def _window_length(model: BertPreTrainedModel, settings: PackingSettings) -> int:
    return min(settings.max_length, model.config.max_position_embeddings)


# ------------------------------------------------------------------ save / load


def summarizer_config(model: BertForExtractiveSummarization, settings: PackingSettings) -> dict:
    config = model.config.to_dict()
    config["architectures"] = ["BertModel"]
    config["bertkit_task"] = TASK_NAME
    config[SETTINGS_KEY] = asdict(settings)
    return config


def write_summarizer_files(
    folder: Path,
    config: dict,
    state: dict[str, torch.Tensor],
    tokenizer: Tokenizer | None,
) -> None:
    """Write the model into an existing (temporary) folder from its full state dict."""
    state = {name: tensor.detach().cpu() for name, tensor in state.items()}
    head = {
        name: state.pop(name).contiguous() for name in list(state) if name.startswith(HEAD_PREFIX)
    }
    if not head:
        raise CheckpointError("the state dict has no sentence_head weights: not a summarizer")
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_file(
        to_hf(state, with_prefix=False),
        str(folder / "model.safetensors"),
        metadata={"format": "pt"},
    )
    save_file(head, str(folder / HEAD_FILE), metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save(folder)


def save_summarizer(
    model: BertForExtractiveSummarization,
    folder: str | os.PathLike,
    tokenizer: Tokenizer,
    settings: PackingSettings,
) -> Path:
    """Write the model folder atomically (see the module docstring for its layout)."""
    folder = Path(folder)
    with atomic_write_dir(folder) as tmp:
        write_summarizer_files(
            tmp, summarizer_config(model, settings), model.state_dict(), tokenizer
        )
    logger.info("saved summarizer to %s", folder)
    return folder


def read_summarizer_state(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Encoder and head weights of a saved summarizer, under bertkit's parameter names."""
    folder = Path(folder)
    state, unexpected = from_hf(read_state_dict(folder))
    if unexpected:
        logger.info("%s: ignored weights %s", folder, ", ".join(unexpected[:8]))
    head_path = folder / HEAD_FILE
    if not head_path.is_file():
        raise CheckpointError(
            f"{folder} has no {HEAD_FILE}: it is not a fine-tuned summarizer (use it with "
            "--method centrality, or fine-tune it with `bertkit finetune summarize`)"
        )
    try:
        state.update(load_file(head_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{head_path} is not a valid safetensors file: {error}") from None
    return state


def load_summarizer(
    folder: str | os.PathLike,
) -> tuple[BertForExtractiveSummarization, Tokenizer, PackingSettings]:
    """The fine-tuned summarizer saved in `folder`, in eval mode."""
    config = load_config(folder)
    if config.extra.get("bertkit_task") != TASK_NAME:
        raise CheckpointError(
            f"{folder} is not a fine-tuned summarizer (config.json has no "
            f'"bertkit_task": "{TASK_NAME}"); use --method centrality with a plain encoder'
        )
    model = BertForExtractiveSummarization(config)
    load_summarizer_weights(model, read_summarizer_state(folder), str(folder))
    tokenizer = Tokenizer.from_pretrained(folder)
    model.eval()
    return model, tokenizer, PackingSettings.from_config(config)


def load_summarizer_weights(
    model: BertForExtractiveSummarization, state: dict[str, torch.Tensor], source: str
) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [
        name for name in state if name in expected and state[name].shape != expected[name].shape
    ]
    if missing or wrong:
        problem = f"missing {', '.join(missing[:5])}" if missing else f"mis-shaped {wrong[:5]}"
        raise CheckpointError(f"{source} does not fit its config.json: {problem}")
    model.load_state_dict({name: state[name] for name in expected}, strict=True)
