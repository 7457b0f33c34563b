"""Batched, length-sorted inference shared by embed, predict and the server."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence

import torch

from bertkit.errors import InputError
from bertkit.model.heads import BertPreTrainedModel
from bertkit.model.outputs import ModelOutput
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for "bf16"; for "auto" only where bf16 is fast (CUDA, or CPUs with AVX-512
    BF16 / AMX); fp32 otherwise."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "auto" and not bf16_is_fast(device):
        return contextlib.nullcontext()
    if precision not in ("bf16", "auto"):
        raise InputError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def bf16_is_fast(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        return capability in ("AVX512", "AMX") and _cpu_has_bf16_instructions()
    return False


def _cpu_has_bf16_instructions() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, longest first, to minimise padding."""
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def run_batched(
    model: BertPreTrainedModel,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    reduce: Callable[[ModelOutput, dict[str, torch.Tensor]], Sequence],
    *,
    text_pairs: Sequence[str] | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    truncate: bool = True,
    precision: str = "fp32",
    progress: Callable[[int], None] | None = None,
) -> list:
    """Run `model` over `texts` in length-sorted batches; `reduce` turns each batch's output
    into one result per row; results come back in input order.

    Without `truncate`, a text longer than the model's positions raises an InputError naming
    the limit. `progress(n)` is called after each batch with the number of texts done.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    limit = model.config.max_position_embeddings
    max_length = min(max_length or limit, limit)
    encoded = tokenizer(
        list(texts),
        list(text_pairs) if text_pairs is not None else None,
        truncation=truncate,
        max_length=max_length if truncate else None,
    )
    lengths = [len(ids) for ids in encoded["input_ids"]]
    too_long = [index for index, length in enumerate(lengths) if length > limit]
    if too_long:
        raise InputError(
            f"text {too_long[0] + 1} has {lengths[too_long[0]]} tokens but the model accepts at "
            f"most {limit} (max_position_embeddings); enable truncation or shorten the text"
        )
    device = next(model.parameters()).device
    results: list = [None] * len(texts)
    model.eval()
    with torch.inference_mode(), autocast_context(device, precision):
        for batch_indices in length_sorted_batches(lengths, batch_size):
            batch = _pad_batch(encoded, batch_indices, tokenizer.pad_token_id, device)
            output = model(**batch)
            for index, value in zip(batch_indices, reduce(output, batch), strict=True):
                results[index] = value
            if progress is not None:
                progress(len(batch_indices))
    return results


def _pad_batch(encoded, indices: list[int], pad_id: int, device) -> dict[str, torch.Tensor]:
    width = max(len(encoded["input_ids"][i]) for i in indices)
    batch = {}
    for key, fill in (("input_ids", pad_id), ("token_type_ids", 0), ("attention_mask", 0)):
        rows = [encoded[key][i] + [fill] * (width - len(encoded[key][i])) for i in indices]
        batch[key] = torch.tensor(rows, dtype=torch.long, device=device)
    return batch


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real tokens' vectors: (B, T, H), (B, T) -> (B, H)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
