"""Greedy and beam-search decoding for the BERT2BERT encoder-decoder.

The source is encoded once. With `use_cache` (the default) the decoder keeps every layer's
self-attention keys/values and the cross-attention keys/values of the encoder output, so each
step runs the decoder on one new token; without it every step re-runs the decoder on the whole
prefix (the slow reference the cache is tested against).

Beam search keeps `num_beams` hypotheses per input. A hypothesis that emits the end token
([SEP]) is scored by its summed log-probability divided by length ** length_penalty (length =
generated tokens, the end token included), as in GNMT and Hugging Face; length_penalty > 1
favours longer outputs, < 1 shorter ones. An input is done once it holds `num_beams` finished
hypotheses and the best running beam, normalised at its current length, cannot beat the
worst of them; with one beam this is exactly greedy decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bertkit.errors import InputError
from bertkit.seq2seq.model import EncoderDecoder


@dataclass
class GenerationOptions:
    """How to decode; `max_length` counts generated tokens, the end token included."""

    num_beams: int = 4  # 1 = greedy
    max_length: int = 64  # most generated tokens per output
    length_penalty: float = 1.0  # exponent of the length normalisation of beam scores
    use_cache: bool = True  # reuse keys/values between steps (same result, much faster)

    def check(self, model: EncoderDecoder) -> None:
        if self.num_beams < 1:
            raise InputError(f"num_beams must be at least 1, got {self.num_beams}")
        if self.max_length < 1:
            raise InputError(f"max_length must be at least 1, got {self.max_length}")
        positions = model.config.decoder.max_position_embeddings
        if self.max_length > positions:
            raise InputError(
                f"max_length {self.max_length} exceeds the decoder's {positions} positions "
                "(max_position_embeddings)"
            )
        if 2 * self.num_beams > model.config.decoder.vocab_size:
            raise InputError(f"num_beams {self.num_beams} is too large for this vocabulary")


class _Stepper:
    """Runs one decoding step, with or without the key/value cache."""

    def __init__(self, model, input_ids, attention_mask, expand: int, use_cache: bool):
        self.model, self.use_cache = model, use_cache
        memory, bias = model.encode(input_ids, attention_mask)
        if expand > 1:  # one copy of the source per beam: (B * K, S, H)
            memory = memory.repeat_interleave(expand, dim=0)
            bias = bias.repeat_interleave(expand, dim=0) if bias is not None else None
        self.memory, self.bias = memory, bias
        self.cache = model.decoder.new_cache(memory) if use_cache else None

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (rows, vocab) after the prefixes `tokens` (rows, t)."""
        if self.use_cache:
            new = tokens if self.cache.length == 0 else tokens[:, -1:]
            return self.model.decode_step(new, self.cache, self.bias)
        hidden = self.model.decoder(tokens, self.memory, self.bias)
        return self.model.decoder.logits(hidden[:, -1])

    def reorder(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder(rows)
        else:
            self.memory = self.memory.index_select(0, rows)
            self.bias = self.bias.index_select(0, rows) if self.bias is not None else None


@torch.no_grad()
def generate(
    model: EncoderDecoder,
    input_ids: torch.Tensor,  # (B, S)
    attention_mask: torch.Tensor | None = None,  # (B, S)
    options: GenerationOptions | None = None,
) -> list[list[int]]:
    """The best output's token ids for each source, without start and end tokens."""
    options = options or GenerationOptions()
    options.check(model)
    if options.num_beams == 1:
        return _greedy(model, input_ids, attention_mask, options)
    return _beam_search(model, input_ids, attention_mask, options)


def _greedy(model, input_ids, attention_mask, options) -> list[list[int]]:
    config = model.config
    batch = input_ids.shape[0]
    stepper = _Stepper(model, input_ids, attention_mask, 1, options.use_cache)
    tokens = input_ids.new_full((batch, 1), config.decoder_start_token_id)  # (B, 1)
    finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    for _ in range(options.max_length):
        chosen = stepper.logits(tokens).argmax(-1)  # (B,)
        chosen = chosen.masked_fill(finished, config.pad_token_id)
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
        finished |= chosen == config.eos_token_id
        if bool(finished.all()):
            break
    return [_strip(row, config.eos_token_id) for row in tokens[:, 1:].tolist()]


def _strip(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids


class _Hypotheses:
    """The best finished outputs of one input, at most `size` of them."""

    def __init__(self, size: int, length_penalty: float):
        self.size, self.length_penalty = size, length_penalty
        self.items: list[tuple[float, list[int]]] = []

    def normalised(self, log_prob_sum: float, length: int) -> float:
        return log_prob_sum / length**self.length_penalty

    def add(self, log_prob_sum: float, ids: list[int], length: int) -> None:
        self.items.append((self.normalised(log_prob_sum, length), ids))
        self.items.sort(key=lambda item: -item[0])
        del self.items[self.size :]

    def is_done(self, best_running_sum: float, length: int) -> bool:
        if len(self.items) < self.size:
            return False
        return self.items[-1][0] >= self.normalised(best_running_sum, length)

    def best(self) -> list[int]:
        return max(self.items, key=lambda item: item[0])[1]


def _beam_search(model, input_ids, attention_mask, options) -> list[list[int]]:
    config = model.config
    batch, beams = input_ids.shape[0], options.num_beams
    device = input_ids.device
    stepper = _Stepper(model, input_ids, attention_mask, beams, options.use_cache)
    tokens = input_ids.new_full((batch * beams, 1), config.decoder_start_token_id)
    # Only the first beam is live at the start, so the first step does not pick K copies.
    scores = torch.full((batch, beams), float("-inf"), device=device)
    scores[:, 0] = 0.0
    hypotheses = [_Hypotheses(beams, options.length_penalty) for _ in range(batch)]
    done = [False] * batch

    for step in range(options.max_length):
        length = step + 1  # generated tokens once this step's token is appended
        log_probs = F.log_softmax(stepper.logits(tokens).float(), dim=-1)  # (B*K, V)
        vocab = log_probs.shape[-1]
        totals = (log_probs + scores.view(-1, 1)).view(batch, beams * vocab)
        top_scores, top_ids = totals.topk(2 * beams, dim=1)  # (B, 2K), best first
        origins, chosen_tokens = top_ids // vocab, top_ids % vocab
        top_scores, origins, chosen_tokens = (
            top_scores.tolist(),
            origins.tolist(),
            chosen_tokens.tolist(),
        )
        rows, next_tokens, next_scores = [], [], []
        for item in range(batch):
            if done[item]:
                rows += [item * beams + k for k in range(beams)]
                next_tokens += [config.pad_token_id] * beams
                next_scores += [float("-inf")] * beams
                continue
            kept = 0
            for rank in range(2 * beams):
                row = item * beams + origins[item][rank]
                token, score = chosen_tokens[item][rank], top_scores[item][rank]
                if token == config.eos_token_id:
                    if rank < beams:
                        hypotheses[item].add(score, tokens[row, 1:].tolist(), length)
                    continue
                rows.append(row)
                next_tokens.append(token)
                next_scores.append(score)
                kept += 1
                if kept == beams:
                    break
            best_running = next_scores[-beams]
            done[item] = hypotheses[item].is_done(best_running, length)
        if all(done):
            break
        row_index = torch.tensor(rows, device=device)
        tokens = torch.cat(
            [tokens[row_index], torch.tensor(next_tokens, device=device)[:, None]], 1
        )
        scores = torch.tensor(next_scores, device=device).view(batch, beams)
        stepper.reorder(row_index)

    for item in range(batch):
        if not done[item]:  # max_length reached: running beams compete as they are
            for k in range(beams):
                row = item * beams + k
                if scores[item, k] > float("-inf"):
                    ids = tokens[row, 1:].tolist()
                    hypotheses[item].add(float(scores[item, k]), ids, len(ids))
    return [_strip(hyp.best(), config.eos_token_id) for hyp in hypotheses]
