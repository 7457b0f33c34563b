"""Encoder-decoder folders in the format of Hugging Face's `EncoderDecoderModel`.

config.json holds the encoder and decoder BERT configs as sub-objects ("encoder", "decoder";
the decoder with `is_decoder` and `add_cross_attention`), `is_encoder_decoder` and the special
token ids. model.safetensors names weights `encoder.*` (as in HF `BertModel`) and `decoder.*`
(as in HF `BertLMHeadModel`: `decoder.bert.*`, `decoder.cls.predictions.*`, and
`crossattention` blocks in each layer), so `transformers.EncoderDecoderModel.from_pretrained`
loads a bertkit folder with identical logits, and bertkit loads one transformers wrote.

The names of the encoder, the decoder's self-attention/feed-forward/embeddings and the output
head are translated by `bertkit.weight_names`; the table below covers what only a decoder has.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from bertkit.checkpoint import WEIGHTS_NAME, load_config, read_state_dict
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError, ConfigError
from bertkit.hub import resolve_model
from bertkit.io_utils import atomic_write_dir
from bertkit.pretrained import check_vocabulary
from bertkit.seq2seq.model import TASK_NAME, EncoderDecoder, Seq2SeqConfig
from bertkit.tokenization import Tokenizer
from bertkit.weight_names import from_hf, to_hf

logger = logging.getLogger(__name__)

SHARE_KEY = "bertkit_share_encoder_decoder"  # config.json: encoder and decoder share weights
GENERATION_KEY = "bertkit_generation"  # config.json: default beams, max length, length penalty
# Keys that the top level of config.json gets from Seq2SeqConfig itself.
OWN_KEYS = {
    "architectures",
    "model_type",
    "is_encoder_decoder",
    "encoder",
    "decoder",
    "decoder_start_token_id",
    "eos_token_id",
    "pad_token_id",
    SHARE_KEY,
}
# Decoder-only keys of a HF decoder config that bertkit's BertConfig refuses on plain BERT.
DECODER_FLAGS = ("is_decoder", "add_cross_attention")

# (bertkit name inside `decoder.`, HF name inside `decoder.bert.`); {i} layer, {p} weight/bias.
CROSS_ATTENTION_NAMES = [
    ("layers.{i}.cross_attention.query.{p}", "encoder.layer.{i}.crossattention.self.query.{p}"),
    ("layers.{i}.cross_attention.out.{p}", "encoder.layer.{i}.crossattention.output.dense.{p}"),
    (
        "layers.{i}.cross_attention_norm.{p}",
        "encoder.layer.{i}.crossattention.output.LayerNorm.{p}",
    ),
]
# Fused in bertkit, separate key and value projections in checkpoints.
CROSS_KEY_VALUE = "layers.{i}.cross_attention.key_value.{p}"
HF_CROSS_KEY_VALUE = [
    f"encoder.layer.{{i}}.crossattention.self.{part}.{{p}}" for part in ("key", "value")
]
# The rest of the decoder: bertkit decoder prefix <-> the prefix of a bertkit BERT task model,
# whose names `bertkit.weight_names` translates.
DECODER_PREFIXES = [("embeddings.", "bert.embeddings."), ("layers.", "bert.encoder.layers.")]
DECODER_PREFIXES.append(("lm_head.", "mlm_head."))


def _pattern(template: str) -> re.Pattern:
    escaped = re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{p\}", r"(?P<p>\w+)")
    return re.compile(escaped + "$")


def _swap_prefix(name: str, forward: bool) -> str | None:
    for ours, theirs in DECODER_PREFIXES:
        source, target = (ours, theirs) if forward else (theirs, ours)
        if name.startswith(source):
            return target + name.removeprefix(source)
    return None


# ----------------------------------------------------------------- weights


def state_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """bertkit EncoderDecoder parameter names -> HF EncoderDecoderModel names (new tensors)."""
    encoder: dict[str, torch.Tensor] = {}
    decoder: dict[str, torch.Tensor] = {}
    theirs: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        if name.startswith("encoder."):
            encoder["bert." + name.removeprefix("encoder.")] = tensor
            continue
        if not name.startswith("decoder."):
            raise CheckpointError(f"no Hugging Face name for weight {name!r}")
        inner = name.removeprefix("decoder.")
        fused = _pattern(CROSS_KEY_VALUE).match(inner)
        if fused:
            for template, part in zip(HF_CROSS_KEY_VALUE, tensor.chunk(2, dim=0), strict=True):
                theirs["decoder.bert." + template.format(**fused.groupdict())] = part
            continue
        for ours, hf in CROSS_ATTENTION_NAMES:
            match = _pattern(ours).match(inner)
            if match:
                theirs["decoder.bert." + hf.format(**match.groupdict())] = tensor
                break
        else:
            bert_name = _swap_prefix(inner, forward=True)
            if bert_name is None:
                raise CheckpointError(f"no Hugging Face name for decoder weight {name!r}")
            decoder[bert_name] = tensor
    theirs.update({f"encoder.{n}": t for n, t in to_hf(encoder, with_prefix=False).items()})
    theirs.update({f"decoder.{n}": t for n, t in to_hf(decoder, with_prefix=True).items()})
    # Shared (BERT2BERT-share) parameters appear under two names: give each its own copy.
    return {name: tensor.clone().contiguous() for name, tensor in theirs.items()}


def state_from_hf(
    hf_state: dict[str, torch.Tensor], source: str = "checkpoint"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """HF EncoderDecoderModel names -> bertkit names; also returns the names it could not place."""
    encoder_hf: dict[str, torch.Tensor] = {}
    decoder_hf: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for name, tensor in hf_state.items():
        if name.startswith("enc_to_dec_proj."):
            raise CheckpointError(
                f"{source} projects encoder states to another width (enc_to_dec_proj); bertkit "
                "needs encoder and decoder of equal hidden_size"
            )
        if name.startswith("encoder."):
            encoder_hf[name.removeprefix("encoder.")] = tensor
        elif name.startswith("decoder."):
            decoder_hf[name.removeprefix("decoder.")] = tensor
        else:
            unexpected.append(name)
    _check_tied_output(decoder_hf, source)

    ours: dict[str, torch.Tensor] = {}
    encoder, skipped = from_hf(encoder_hf)
    unexpected += [f"encoder.{name}" for name in skipped]
    for name, tensor in encoder.items():
        ours["encoder." + name.removeprefix("bert.")] = tensor
    ours.update(_cross_attention_from_hf(decoder_hf))
    decoder, skipped = from_hf(decoder_hf)
    unexpected += [f"decoder.{name}" for name in skipped]
    for name, tensor in decoder.items():
        inner = _swap_prefix(name, forward=False)
        if inner is None:  # e.g. a pooler, which a decoder does not have
            unexpected.append(f"decoder.{name}")
        else:
            ours["decoder." + inner] = tensor
    return ours, unexpected


def _cross_attention_from_hf(decoder_hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pop the cross-attention weights out of `decoder_hf` and return them under our names."""
    ours: dict[str, torch.Tensor] = {}
    parts: dict[tuple[str, str], dict[int, torch.Tensor]] = {}
    for name in [n for n in decoder_hf if ".crossattention." in n]:
        inner = name.removeprefix("bert.")
        for index, template in enumerate(HF_CROSS_KEY_VALUE):
            match = _pattern(template).match(inner)
            if match:
                key = (match["i"], match["p"])
                parts.setdefault(key, {})[index] = decoder_hf.pop(name)
                break
        else:
            for bertkit_name, hf in CROSS_ATTENTION_NAMES:
                match = _pattern(hf).match(inner)
                if match:
                    ours["decoder." + bertkit_name.format(**match.groupdict())] = decoder_hf.pop(
                        name
                    )
                    break
    for (layer, kind), pair in parts.items():
        if len(pair) == 2:
            fused = torch.cat([pair[0], pair[1]], dim=0)
            ours["decoder." + CROSS_KEY_VALUE.format(i=layer, p=kind)] = fused
    return ours


def _check_tied_output(decoder_hf: dict[str, torch.Tensor], source: str) -> None:
    output = decoder_hf.get("cls.predictions.decoder.weight")
    embedding = decoder_hf.get("bert.embeddings.word_embeddings.weight")
    if output is not None and embedding is not None and not torch.equal(output, embedding):
        raise CheckpointError(
            f"{source}: the decoder's output layer is not tied to its word embeddings; "
            "bertkit's BERT2BERT decoder always ties them"
        )


# ------------------------------------------------------------------ config


def config_to_dict(config: Seq2SeqConfig, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config.json of an HF EncoderDecoderModel, plus bertkit's task and share keys."""
    encoder = config.encoder.to_dict()
    encoder["architectures"] = ["BertModel"]
    decoder = config.decoder.to_dict()
    decoder.update(
        architectures=["BertLMHeadModel"],
        is_decoder=True,
        add_cross_attention=True,
        tie_word_embeddings=True,
    )
    data = dict(extra or {})
    data.update(
        architectures=["EncoderDecoderModel"],
        model_type="encoder-decoder",
        is_encoder_decoder=True,
        encoder=encoder,
        decoder=decoder,
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        bertkit_task=TASK_NAME,
    )
    data[SHARE_KEY] = config.share
    return data


def config_from_dict(
    data: Any, source: str, tokenizer: Tokenizer | None = None
) -> tuple[Seq2SeqConfig, dict[str, Any]]:
    """Seq2SeqConfig and the other top-level keys (kept for the next save) of a config.json."""
    if not isinstance(data, dict) or not data.get("is_encoder_decoder"):
        raise ConfigError(
            f"{source} is not an encoder-decoder config (no is_encoder_decoder); pass a folder "
            "written by `bertkit finetune seq2seq` or transformers' EncoderDecoderModel"
        )
    parts = {}
    for part in ("encoder", "decoder"):
        sub = data.get(part)
        if not isinstance(sub, dict):
            raise ConfigError(f"{source}: config.json lacks the {part!r} sub-config")
        sub = dict(sub)
        if part == "decoder":
            if not sub.get("add_cross_attention"):
                raise ConfigError(f"{source}: the decoder config has no cross-attention")
            if sub.get("tie_word_embeddings") is False:
                raise ConfigError(f"{source}: untied decoder output embeddings are not supported")
        for flag in DECODER_FLAGS:
            sub.pop(flag, None)
        try:
            parts[part] = BertConfig.from_dict(sub)
        except ConfigError as error:
            raise ConfigError(f"{source} ({part}): {error}") from None
    decoder_dict = data["decoder"]
    start = data.get("decoder_start_token_id", decoder_dict.get("bos_token_id"))
    eos = data.get("eos_token_id", decoder_dict.get("eos_token_id"))
    pad = data.get("pad_token_id", decoder_dict.get("pad_token_id"))
    if tokenizer is not None:
        start = tokenizer.cls_token_id if start is None else start
        eos = tokenizer.sep_token_id if eos is None else eos
        pad = tokenizer.pad_token_id if pad is None else pad
    for name, value in (("decoder_start_token_id", start), ("eos_token_id", eos)):
        if value is None:
            raise ConfigError(f"{source}: config.json sets no {name} and no tokenizer gives one")
    config = Seq2SeqConfig(
        encoder=parts["encoder"],
        decoder=parts["decoder"],
        decoder_start_token_id=start,
        eos_token_id=eos,
        pad_token_id=0 if pad is None else pad,
        share=bool(data.get(SHARE_KEY, False)),
    )
    extra = {key: value for key, value in data.items() if key not in OWN_KEYS}
    return config, extra


# ------------------------------------------------------------ save / load


def write_model_folder(
    model: EncoderDecoder,
    folder: Path,
    state: dict[str, torch.Tensor] | None = None,
    tokenizer: Tokenizer | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write config.json, model.safetensors (and the tokenizer) into an existing `folder`.

    `state` defaults to the model's own state dict (the Trainer passes the gathered one).
    """
    state = model.state_dict() if state is None else state
    extra = model.config_extra if extra is None else extra
    data = config_to_dict(model.config, extra)
    (folder / "config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    save_file(state_to_hf(state), str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save(folder)


def save_seq2seq(
    model: EncoderDecoder, folder: str | os.PathLike, tokenizer: Tokenizer | None = None
) -> Path:
    """Write `model` (and `tokenizer`) as a complete HF EncoderDecoderModel folder, atomically."""
    folder = Path(folder)
    with atomic_write_dir(folder) as tmp:
        write_model_folder(model, tmp, tokenizer=tokenizer)
    logger.info("saved encoder-decoder to %s", folder)
    return folder


def read_model_state(model: EncoderDecoder, folder: Path) -> dict[str, torch.Tensor]:
    """The inverse of `write_model_folder` for the Trainer: a state dict under our names."""
    state, _ = state_from_hf(read_state_dict(folder), str(folder))
    if model.config.share:
        _add_shared_aliases(model, state)
    return state


def load_seq2seq(name_or_path: str | os.PathLike) -> tuple[EncoderDecoder, Tokenizer | None]:
    """An EncoderDecoder (eval mode) and its tokenizer (None if the folder has none)."""
    folder = resolve_model(name_or_path)
    if not Path(folder).is_dir():
        raise CheckpointError(f"{folder} is not a folder; pass a fine-tuned seq2seq model folder")
    config_file = Path(folder) / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{folder} not found or has no config.json")
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config_file} is not valid JSON: {error}") from None
    tokenizer = _tokenizer_if_any(folder)
    config, extra = config_from_dict(data, str(config_file), tokenizer)
    state, unexpected = state_from_hf(read_state_dict(folder), str(folder))
    share = config.share and _shared_weights_equal(state)
    if config.share and not share:
        logger.warning("%s: encoder and decoder weights differ; loading them unshared", folder)
        config.share = False
    model = EncoderDecoder(config)
    model.config_extra = extra
    if share:
        _add_shared_aliases(model, state)
    _load_exactly(model, state, unexpected, str(folder))
    if tokenizer is not None:
        check_vocabulary(tokenizer, config.encoder, str(folder))
    model.eval()
    return model, tokenizer


def _tokenizer_if_any(folder: Path) -> Tokenizer | None:
    if (Path(folder) / "tokenizer.json").is_file() or (Path(folder) / "vocab.txt").is_file():
        return Tokenizer.from_pretrained(folder)
    return None


def _shared_weights_equal(state: dict[str, torch.Tensor]) -> bool:
    """Do the decoder's copies of the shareable weights equal the encoder's?"""
    for name, tensor in state.items():
        twin = _encoder_twin(name)
        if twin is not None and (twin not in state or not torch.equal(state[twin], tensor)):
            return False
    return True


def _encoder_twin(decoder_name: str) -> str | None:
    """The encoder parameter that a shared decoder parameter is, or None if it has its own."""
    if decoder_name.startswith("decoder.embeddings."):
        return "encoder." + decoder_name.removeprefix("decoder.")
    match = re.match(
        r"decoder\.layers\.(\d+)\.(attention|attention_norm|ffn|ffn_norm)\.(.+)$", decoder_name
    )
    if match:
        layer, module, rest = match.groups()
        return f"encoder.encoder.layers.{layer}.{module}.{rest}"
    return None


def _add_shared_aliases(model: EncoderDecoder, state: dict[str, torch.Tensor]) -> None:
    """Fill the decoder names of shared weights from the encoder's copies."""
    for name in model.state_dict():
        twin = _encoder_twin(name)
        if twin is not None and twin in state:
            state[name] = state[twin]


def _load_exactly(
    model: EncoderDecoder, state: dict[str, torch.Tensor], unexpected: list[str], source: str
) -> None:
    """Copy `state` into `model`; any missing or mis-shaped weight is an error."""
    expected = model.state_dict()
    unexpected = unexpected + [name for name in state if name not in expected]
    missing = [name for name in expected if name not in state]
    missing_pooler = [name for name in missing if name.startswith("encoder.pooler.")]
    missing = [name for name in missing if name not in missing_pooler]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise CheckpointError(
            f"{source} lacks {len(missing)} encoder-decoder weight(s): {shown}; it is not a "
            "complete BERT2BERT checkpoint"
        )
    for name, tensor in state.items():
        if name in expected and tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{source}: weight {name} has shape {tuple(tensor.shape)} but config.json "
                f"implies {tuple(expected[name].shape)}"
            )
    model.load_state_dict(
        {n: t.to(expected[n].dtype) for n, t in state.items() if n in expected}, strict=False
    )
    if unexpected:
        logger.info("%s: ignored weights %s", source, ", ".join(unexpected[:8]))


# ------------------------------------------------- from a pretrained BERT


def from_pretrained_bert(
    name_or_path: str | os.PathLike, share: bool = False
) -> tuple[EncoderDecoder, Tokenizer, list[str]]:
    """A BERT2BERT (or BERT2BERT-share) whose encoder and decoder start from one BERT.

    Returns the model, the BERT's tokenizer and the names of the parts that start from random
    weights (always the cross-attention blocks; the output head's transform too when the
    checkpoint has no masked-LM head, as sentence-embedding models do not).
    """
    folder = resolve_model(name_or_path)
    bert_config = load_config(folder)
    tokenizer = Tokenizer.from_pretrained(folder)
    check_vocabulary(tokenizer, bert_config, str(folder))
    bert_state, _ = from_hf(read_state_dict(folder))
    for name in ("cls_token_id", "sep_token_id", "pad_token_id"):
        if getattr(tokenizer, name) is None:
            raise CheckpointError(f"{folder}: the tokenizer has no {name.removesuffix('_id')}")
    encoder_config = BertConfig.from_dict(bert_config.to_dict())
    encoder_config.extra.pop("architectures", None)
    decoder_config = BertConfig.from_dict(encoder_config.to_dict())
    config = Seq2SeqConfig(
        encoder=encoder_config,
        decoder=decoder_config,
        decoder_start_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        share=share,
    )
    model = EncoderDecoder(config)
    state = model.state_dict()
    filled: set[str] = set()
    for name, tensor in bert_state.items():
        targets = []
        if name.startswith("bert."):
            targets.append("encoder." + name.removeprefix("bert."))
        decoder_name = _swap_prefix(name, forward=False)
        if decoder_name is not None:
            targets.append("decoder." + decoder_name)
        for target in targets:
            if target in state and state[target].shape == tensor.shape:
                state[target] = tensor
                filled.add(target)
    missing_encoder = [
        n for n in state if n.startswith("encoder.") and n not in filled and "pooler" not in n
    ]
    if missing_encoder:
        raise CheckpointError(
            f"{folder} lacks encoder weights {', '.join(missing_encoder[:5])}: not a BERT"
        )
    model.load_state_dict(state)
    fresh = sorted({_module_of(n) for n in state if n.startswith("decoder.") and n not in filled})
    if "encoder.pooler.dense.weight" not in filled:
        fresh.append("encoder.pooler (unused by seq2seq)")
    logger.info("BERT2BERT from %s; randomly initialised: %s", folder, ", ".join(fresh))
    return model, tokenizer, fresh


def _module_of(name: str) -> str:
    """A short module name for reports: layer numbers folded, weight/bias dropped."""
    return re.sub(r"\.\d+\.", ".*.", name.rsplit(".", 1)[0])
