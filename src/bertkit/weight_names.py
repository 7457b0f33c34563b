"""The one place where Hugging Face checkpoint names meet bertkit's module names.

Each row pairs a bertkit parameter name with its Hugging Face name ({i} a layer number, {p}
`weight` or `bias`). The query, key and value matrices, separate in checkpoints, are one
fused `qkv` projection in bertkit: they are concatenated on load and split on save.
"""

from __future__ import annotations

import re

import torch

# (bertkit name, Hugging Face name); encoder rows carry a `bert.` prefix in task models.
ENCODER_NAMES = [
    ("embeddings.word.{p}", "embeddings.word_embeddings.{p}"),
    ("embeddings.position.{p}", "embeddings.position_embeddings.{p}"),
    ("embeddings.token_type.{p}", "embeddings.token_type_embeddings.{p}"),
    ("embeddings.norm.{p}", "embeddings.LayerNorm.{p}"),
    ("encoder.layers.{i}.attention.out.{p}", "encoder.layer.{i}.attention.output.dense.{p}"),
    ("encoder.layers.{i}.attention_norm.{p}", "encoder.layer.{i}.attention.output.LayerNorm.{p}"),
    ("encoder.layers.{i}.ffn.up.{p}", "encoder.layer.{i}.intermediate.dense.{p}"),
    ("encoder.layers.{i}.ffn.down.{p}", "encoder.layer.{i}.output.dense.{p}"),
    ("encoder.layers.{i}.ffn_norm.{p}", "encoder.layer.{i}.output.LayerNorm.{p}"),
    ("pooler.dense.{p}", "pooler.dense.{p}"),
]
HEAD_NAMES = [
    ("mlm_head.transform.{p}", "cls.predictions.transform.dense.{p}"),
    ("mlm_head.norm.{p}", "cls.predictions.transform.LayerNorm.{p}"),
    ("mlm_head.bias", "cls.predictions.bias"),
    ("classifier.{p}", "classifier.{p}"),
    ("span_head.{p}", "qa_outputs.{p}"),
]
QKV_NAME = "encoder.layers.{i}.attention.qkv.{p}"
HF_QKV_NAMES = [
    f"encoder.layer.{{i}}.attention.self.{part}.{{p}}" for part in ("query", "key", "value")
]

# Checkpoint entries that carry no information for bertkit: buffers, tied copies, old aliases.
IGNORED_HF_NAMES = [
    r"(bert\.)?embeddings\.position_ids",
    r"cls\.predictions\.decoder\.weight",  # tied to the word embeddings
    r"cls\.predictions\.decoder\.bias",  # the same tensor as cls.predictions.bias
]

HF_ARCHITECTURES = {
    "BertEncoderModel": "BertModel",
    "BertForMaskedLM": "BertForMaskedLM",
    "BertForSequenceClassification": "BertForSequenceClassification",
    "BertForTokenClassification": "BertForTokenClassification",
    "BertForQuestionAnswering": "BertForQuestionAnswering",
}


def _pattern(template: str) -> re.Pattern:
    escaped = re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{p\}", r"(?P<p>\w+)")
    return re.compile(escaped + r"$")


def _rename(name: str, table: list[tuple[str, str]], forward: bool) -> str | None:
    for ours, theirs in table:
        source, target = (theirs, ours) if forward else (ours, theirs)
        match = _pattern(source).match(name)
        if match:
            return target.format(**match.groupdict())
    return None


def from_hf(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Translate a Hugging Face BERT state dict to bertkit names.

    Returns the translated dict and the names it could not place (unexpected weights).
    Accepts names with or without the `bert.` prefix and TensorFlow-era `gamma`/`beta`.
    """
    ours: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    pending_qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    if "cls.predictions.bias" not in state and "cls.predictions.decoder.bias" in state:
        # Some older checkpoints keep the MLM output bias only under the decoder's name.
        ours["mlm_head.bias"] = state["cls.predictions.decoder.bias"]
    for name, tensor in state.items():
        if any(re.fullmatch(pattern, name) for pattern in IGNORED_HF_NAMES):
            continue
        plain = name.removeprefix("bert.")
        plain = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", plain)
        plain = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", plain)
        qkv = re.match(r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.(\w+)$", plain)
        if qkv:
            layer, part, kind = qkv.groups()
            pending_qkv.setdefault((layer, kind), {})[part] = tensor
            continue
        encoder_name = _rename(plain, ENCODER_NAMES, forward=True)
        if encoder_name is not None:
            ours[f"bert.{encoder_name}"] = tensor
            continue
        head_name = _rename(plain, HEAD_NAMES, forward=True)
        if head_name is not None:
            ours[head_name] = tensor
        else:
            unexpected.append(name)
    for (layer, kind), parts in pending_qkv.items():
        if set(parts) != {"query", "key", "value"}:
            unexpected.extend(f"encoder.layer.{layer}.attention.self.{p}.{kind}" for p in parts)
            continue
        fused = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
        ours["bert." + QKV_NAME.format(i=layer, p=kind)] = fused
    return ours, unexpected


def to_hf(state: dict[str, torch.Tensor], with_prefix: bool) -> dict[str, torch.Tensor]:
    """Translate a bertkit state dict to Hugging Face names (`bert.` prefix for task models)."""
    prefix = "bert." if with_prefix else ""
    theirs: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name.startswith("bert."):
            plain = name.removeprefix("bert.")
            qkv = _pattern(QKV_NAME).match(plain)
            if qkv:
                for template, part in zip(HF_QKV_NAMES, tensor.chunk(3, dim=0), strict=True):
                    theirs[prefix + template.format(**qkv.groupdict())] = part.contiguous()
                continue
            hf_name = _rename(plain, ENCODER_NAMES, forward=False)
            if hf_name is None:
                raise KeyError(f"no Hugging Face name for encoder weight {name!r}")
            theirs[prefix + hf_name] = tensor.contiguous()
        else:
            hf_name = _rename(name, HEAD_NAMES, forward=False)
            if hf_name is None:
                raise KeyError(f"no Hugging Face name for head weight {name!r}")
            theirs[hf_name] = tensor.contiguous()
    return theirs


def hf_name(name: str) -> str:
    """The Hugging Face name of one bertkit weight, for messages a user reads beside their
    checkpoint; the fused query/key/value projection names its three parts as one pattern."""
    prefix = "bert." if name.startswith("bert.") else ""
    plain = name.removeprefix("bert.")
    qkv = _pattern(QKV_NAME).match(plain)
    if qkv:
        return prefix + HF_QKV_NAMES[0].format(**qkv.groupdict()).replace(
            ".query.", ".{query,key,value}."
        )
    table = ENCODER_NAMES if prefix else HEAD_NAMES
    return prefix + (_rename(plain, table, forward=False) or plain)
