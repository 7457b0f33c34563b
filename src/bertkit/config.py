"""BERT's configuration, read from and written to a Hugging Face compatible `config.json`."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertkit.errors import ConfigError
from bertkit.io_utils import atomic_write_file

SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish")


# The fields that fix the shapes of a model's weights.
SHAPE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)


@dataclass
class BertConfig:
    """The architecture of a BERT model, with the field names of `config.json`."""

    vocab_size: int = 30522  # rows of the word-embedding table (and of the MLM decoder)
    hidden_size: int = 768  # width of every token representation
    num_hidden_layers: int = 12  # number of encoder layers
    num_attention_heads: int = 12  # heads per self-attention; hidden_size must divide evenly
    intermediate_size: int = 3072  # inner width of the feed-forward block
    hidden_act: str = "gelu"  # feed-forward activation (exact erf GELU in BERT)
    hidden_dropout_prob: float = 0.1  # dropout on embeddings and residual branches
    attention_probs_dropout_prob: float = 0.1  # dropout on attention probabilities
    max_position_embeddings: int = 512  # longest sequence the position table covers
    type_vocab_size: int = 2  # number of segment (token type) ids
    initializer_range: float = 0.02  # std of the normal init of new weights
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon
    pad_token_id: int = 0  # id of [PAD]
    classifier_dropout: float | None = None  # head dropout; None means hidden_dropout_prob
    id2label: dict[int, str] | None = None  # class names of a classification head
    label2id: dict[str, int] | None = None  # inverse of id2label
    # Keys of config.json that bertkit does not use, kept so a round trip loses nothing.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def num_labels(self) -> int:
        return len(self.id2label) if self.id2label else 2

    def validate(self) -> None:
        """Raise ConfigError naming the first field with a wrong type or an impossible value."""
        for spec in dataclasses.fields(self):
            if spec.name in ("extra", "id2label", "label2id", "classifier_dropout", "hidden_act"):
                continue
            value = getattr(self, spec.name)
            expected = int if spec.type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(
                    f"config field {spec.name!r} must be a number, got {value!r} "
                    f"({type(value).__name__})"
                )
            if expected is int and not float(value).is_integer():
                raise ConfigError(f"config field {spec.name!r} must be an integer, got {value!r}")
            if expected is int:
                setattr(self, spec.name, int(value))
        for name in SHAPE_FIELDS:
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"config field {name!r} must be positive, got {getattr(self, name)}"
                )
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) is not a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ConfigError(
                f"hidden_act {self.hidden_act!r} is not supported; use one of "
                f"{', '.join(SUPPORTED_ACTIVATIONS)}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(
                    f"config field {name!r} must be in [0, 1), got {getattr(self, name)}"
                )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"pad_token_id {self.pad_token_id} is outside the vocabulary")
        if not self.layer_norm_eps > 0 or not self.initializer_range >= 0:
            raise ConfigError("config fields 'layer_norm_eps' and 'initializer_range' must be > 0")
        rate = self.classifier_dropout
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1
        ):
            raise ConfigError(
                f"config field 'classifier_dropout' must be null or in [0, 1), got {rate!r}"
            )
        self._normalise_labels()

    def _normalise_labels(self) -> None:
        if self.id2label is None and self.label2id is None:
            return
        try:
            if self.id2label is None:
                self.id2label = {int(i): str(label) for label, i in self.label2id.items()}
            self.id2label = {int(i): str(label) for i, label in self.id2label.items()}
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(
                "config fields 'id2label' / 'label2id' must map integer ids to label names "
                'and back, e.g. {"0": "negative", "1": "positive"}'
            ) from None
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise ConfigError(f"id2label ids must be 0..N-1, got {sorted(self.id2label)}")
        self.label2id = {label: i for i, label in self.id2label.items()}

    def with_labels(self, labels: list[str]) -> BertConfig:
        """A copy whose classification head predicts `labels` (in that order)."""
        mapping = {i: str(label) for i, label in enumerate(labels)}
        return dataclasses.replace(self, id2label=mapping, label2id=None, extra=dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.setdefault("architectures", ["BertModel"])
        data.setdefault("model_type", "bert")
        for spec in dataclasses.fields(self):
            if spec.name == "extra":
                continue
            value = getattr(self, spec.name)
            if spec.name == "id2label":
                value = {str(i): label for i, label in value.items()} if value else None
            if value is None and spec.name in ("id2label", "label2id", "classifier_dropout"):
                continue
            data[spec.name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BertConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"config.json must hold a JSON object, got {type(data).__name__}")
        known = {spec.name for spec in dataclasses.fields(cls)} - {"extra"}
        kwargs = {key: value for key, value in data.items() if key in known}
        extra = {key: value for key, value in data.items() if key not in known}
        _check_supported(extra)
        return cls(**kwargs, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> BertConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path} not found: a model folder needs a config.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} is not valid JSON: {error}") from None
        try:
            return cls.from_dict(data)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    def save(self, path: str | os.PathLike) -> None:
        with atomic_write_file(path, encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2, ensure_ascii=False)
            handle.write("\n")


def _check_supported(extra: dict[str, Any]) -> None:
    """Refuse configs that describe a model our encoder would compute differently."""
    architectures = extra.get("architectures")
    if architectures is not None and (
        not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures)
    ):
        raise ConfigError(
            f"config field 'architectures' must be a list of names, got {architectures!r}"
        )
    model_type = extra.get("model_type", "bert")
    if model_type not in ("bert", None):
        raise ConfigError(f"model_type {model_type!r} is not BERT; bertkit loads BERT models only")
    position_type = extra.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConfigError(
            f"position_embedding_type {position_type!r} is not supported; only 'absolute' is"
        )
    if extra.get("is_decoder") or extra.get("add_cross_attention"):
        raise ConfigError(
            "decoder BERT configs (is_decoder / add_cross_attention) are not supported"
        )
