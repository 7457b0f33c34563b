"""Fill-mask: the most likely tokens, with probabilities, at each [MASK] of a text.

Works on any folder holding a BertForMaskedLM: bertkit pretraining outputs and checkpoints, and
Hugging Face `BertForMaskedLM` folders (their `cls.predictions.*` weights map onto our head).
Only the masked positions are projected onto the vocabulary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from bertkit.errors import InputError
from bertkit.inference import autocast_context
from bertkit.model.heads import BertForMaskedLM
from bertkit.pretrained import load_pretrained
from bertkit.tokenization import Tokenizer


@dataclass
class Filler:
    """One candidate for one mask."""

    token: str  # the WordPiece token (a `##` piece continues the word before it)
    token_id: int
    probability: float
    sequence: str  # the text with this mask filled (other masks left as they are)


def load_fill_mask_model(name_or_path: str | os.PathLike) -> tuple[BertForMaskedLM, Tokenizer]:
    """The masked-LM model and tokenizer of a folder; refuses a model without a trained head.

    A pretraining run folder, or one of its checkpoints, stands for the model folder inside it.
    """
    folder = Path(name_or_path)
    if not (folder / "config.json").exists() and (folder / "model" / "config.json").is_file():
        name_or_path = folder / "model"
    # A missing head is this function's error to report, not a warning to log first.
    model, tokenizer, report = load_pretrained(name_or_path, "masked-lm", new_heads_expected=True)
    if "mlm_head" in report.initialised_heads:
        raise InputError(
            f"{name_or_path} has no masked-language-model head (cls.predictions.*), so it "
            "cannot fill masks; pretrain it with `bertkit pretrain --init-from` first"
        )
    return model, tokenizer  # type: ignore[return-value]


@torch.no_grad()
def fill_mask(
    model: BertForMaskedLM,
    tokenizer: Tokenizer,
    texts: list[str],
    top_k: int = 5,
    precision: str = "fp32",
    truncate: bool = False,
) -> list[list[list[Filler]]]:
    """For each text, for each [MASK] in it (left to right), the `top_k` fillers, special
    tokens excluded; probabilities are the model's softmax over the whole vocabulary.

    A text longer than the model's positions is refused unless `truncate`, in which case only
    its first `max_position_embeddings` tokens are read (and a [MASK] past them is an error).
    """
    if top_k < 1:
        raise InputError(f"top_k must be at least 1, got {top_k}")
    limit = model.config.max_position_embeddings
    if not truncate:
        lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
        for index, (text, length) in enumerate(zip(texts, lengths, strict=True)):
            if length > limit:
                raise InputError(
                    f"text {index + 1} is {length} tokens but the model reads at most {limit}: "
                    f"{text[:60]!r}...; shorten it, or allow truncation (--truncate) to read "
                    f"only its first {limit} tokens"
                )
    encoding = tokenizer(
        texts, truncation=True, padding=True, max_length=limit, return_tensors="pt"
    )
    input_ids = encoding["input_ids"]  # (B, T)
    masked = input_ids == tokenizer.mask_token_id  # (B, T)
    for index, text in enumerate(texts):
        if masked[index].any():
            continue
        # Only with truncation can the text be longer than the part read.
        length = len(tokenizer([text])["input_ids"][0]) if truncate else 0
        if length > limit and tokenizer.mask_token in text:
            raise InputError(
                f"text {index + 1} is {length} tokens and every {tokenizer.mask_token} "
                f"in it lies past the first {limit}, which are all the model reads; move the "
                "mask earlier or shorten the text"
            )
        raise InputError(f"text {index + 1} has no {tokenizer.mask_token}: {text[:80]!r}")
    device = next(model.parameters()).device
    model.eval()
    with autocast_context(device, precision):
        logits = model(
            input_ids.to(device),
            attention_mask=encoding["attention_mask"].to(device),
            token_type_ids=encoding["token_type_ids"].to(device),
            masked_positions=masked.to(device),
        ).logits  # (num_masks, vocab), row-major over (B, T)
    probabilities = logits.float().softmax(-1)
    vocab_size = min(tokenizer.vocab_size, probabilities.shape[-1])
    # [CLS], [SEP], [PAD], [MASK] and [UNK] are never a useful filler; they keep their share of
    # the probability mass but are not offered as candidates.
    candidates = probabilities[:, :vocab_size].clone()
    special = [i for i in tokenizer.special_token_ids if i < vocab_size]
    candidates[:, special] = -1.0
    top = candidates.topk(min(top_k, vocab_size - len(special)), dim=-1)

    results: list[list[list[Filler]]] = [[] for _ in texts]
    rows, columns = torch.nonzero(masked, as_tuple=True)
    for mask_number, (row, column) in enumerate(zip(rows.tolist(), columns.tolist(), strict=True)):
        fillers = []
        for probability, token_id in zip(
            top.values[mask_number], top.indices[mask_number], strict=True
        ):
            filled = input_ids[row].clone()
            filled[column] = token_id
            fillers.append(
                Filler(
                    token=tokenizer.convert_ids_to_tokens([int(token_id)])[0],
                    token_id=int(token_id),
                    probability=float(probability),
                    sequence=_decode_keeping_masks(tokenizer, filled, encoding, row),
                )
            )
        results[row].append(fillers)
    return results


def _decode_keeping_masks(tokenizer: Tokenizer, ids: torch.Tensor, encoding, row: int) -> str:
    """Decode a row without padding, [CLS] or [SEP], but with any other [MASK] kept."""
    length = int(encoding["attention_mask"][row].sum())
    ids = ids[:length].tolist()
    ids = [i for i in ids if i not in (tokenizer.cls_token_id, tokenizer.sep_token_id)]
    return tokenizer.decode(ids, skip_special_tokens=False)
