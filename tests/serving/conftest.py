"""Tiny random model folders, one per servable task, built once per session.

Each folder is complete (config.json, weights, tokenizer files) and written by bertkit's own
savers, so the server and the exporter load them exactly as they load a user's model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertkit.checkpoint import save_model
from bertkit.config import BertConfig
from bertkit.model import TASK_MODELS
from bertkit.tokenization import Tokenizer

VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    + [f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    + list(".,!?'-")
    + "the a cat dog sat on mat paris london alice bob lives in is was good bad film".split()
)
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CLASS_LABELS = ["negative", "positive"]
MAX_POSITIONS = 48

SERVE_FOLDER_TASKS = {
    "embed": ("encoder", None),
    "classify": ("sequence-classification", CLASS_LABELS),
    "ner": ("token-classification", NER_LABELS),
    "qa": ("question-answering", None),
    "fill-mask": ("masked-lm", None),
}


@pytest.fixture(scope="session")
def serve_tokenizer(tmp_path_factory) -> Tokenizer:
    vocab_file = tmp_path_factory.mktemp("serve-vocab") / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return Tokenizer.from_vocab(vocab_file, model_max_length=MAX_POSITIONS)


def tiny_config() -> BertConfig:
    return BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=MAX_POSITIONS,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def randomise(model: torch.nn.Module) -> None:
    """Random biases and LayerNorms too, so a dropped or misplaced weight changes outputs."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)


@pytest.fixture(scope="session")
def serve_folders(serve_tokenizer, tmp_path_factory) -> dict[str, Path]:
    """task -> folder of a tiny random model for that task (treat as read-only)."""
    torch.manual_seed(0)
    folders = {}
    for task, (model_task, labels) in SERVE_FOLDER_TASKS.items():
        config = tiny_config()
        config = config.with_labels(labels) if labels else config
        model = TASK_MODELS[model_task](config)
        randomise(model)
        folders[task] = save_model(model, tmp_path_factory.mktemp(task) / "model", serve_tokenizer)
    folders["summarize"] = _supervised_summarizer(serve_tokenizer, tmp_path_factory)
    return folders


def _supervised_summarizer(tokenizer: Tokenizer, tmp_path_factory) -> Path | None:
    try:
        from bertkit.tasks.summarization.supervised import (
            BertForExtractiveSummarization,
            PackingSettings,
            save_summarizer,
        )
    except ImportError:
        return None
    model = BertForExtractiveSummarization(tiny_config())
    randomise(model)
    folder = tmp_path_factory.mktemp("summarize") / "model"
    return save_summarizer(model, folder, tokenizer, PackingSettings())
