"""Named model sizes for pretraining from scratch, with command-line overrides.

The compact sizes are those of Turc et al. (2019), "Well-Read Students Learn Better", which
released BERT-Tiny to BERT-Base trained alike: attention heads of 64 dimensions and a
feed-forward block four times the hidden size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bertkit.config import BertConfig
from bertkit.errors import ConfigError

# name -> (layers, hidden size)
PRESET_SIZES = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
}


def preset_config(name: str, vocab_size: int, **overrides: Any) -> BertConfig:
    """The BertConfig of preset `name` for a vocabulary of `vocab_size`, with `overrides`
    (BertConfig field names; None values are ignored) applied on top."""
    if name not in PRESET_SIZES:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {', '.join(PRESET_SIZES)}")
    layers, hidden = PRESET_SIZES[name]
    values: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": hidden // 64,
        "intermediate_size": 4 * hidden,
    }
    known = {spec.name for spec in dataclasses.fields(BertConfig)} - {"extra"}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in known:
            raise ConfigError(f"{key!r} is not a BertConfig field")
        values[key] = value
    if "hidden_size" in overrides and overrides["hidden_size"] is not None:
        # Keep 64-dimensional heads and a 4x feed-forward unless those were set explicitly.
        if overrides.get("num_attention_heads") is None:
            values["num_attention_heads"] = max(1, values["hidden_size"] // 64)
        if overrides.get("intermediate_size") is None:
            values["intermediate_size"] = 4 * values["hidden_size"]
    return BertConfig(**values)
