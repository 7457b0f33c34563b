"""AdamW with decoupled weight decay and the warmup-then-decay learning-rate schedules.

Weight decay shrinks weight matrices and embeddings only: biases and normalisation weights
(vectors, or anything named like a norm or bias) are exempt, as in the BERT recipe.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from bertkit.errors import ConfigError
from bertkit.training.config import TrainingConfig

logger = logging.getLogger(__name__)

_NO_DECAY_NAME_PARTS = ("bias", "norm", "layernorm")


def is_no_decay(name: str, parameter: nn.Parameter) -> bool:
    """True for biases and normalisation weights, which weight decay must not shrink."""
    lowered = name.lower()
    return parameter.ndim < 2 or any(part in lowered for part in _NO_DECAY_NAME_PARTS)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split trainable parameters into a decayed and a non-decayed AdamW group."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if is_no_decay(name, parameter) else decay).append(parameter)
    if not decay and not no_decay:
        raise ConfigError("the model has no trainable parameters")
    logger.debug("%d tensors with weight decay, %d without", len(decay), len(no_decay))
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.AdamW:
    """AdamW over `param_groups`, with the config's peak learning rate, betas and epsilon.

    The fused kernel (one pass over each parameter, CPU and GPU) is used where torch has it for
    the parameters' device: on CPU torch's default is otherwise a Python loop of a dozen
    element-wise ops per tensor, which made the update ~10% of a BERT-mini step. The fused and
    the plain update agree to float rounding (~1e-7, tested). Elsewhere the default is kept.
    """
    groups = param_groups(model, config.weight_decay)
    settings = dict(
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_epsilon,
    )
    try:
        return torch.optim.AdamW(groups, fused=True, **settings)
    except RuntimeError as error:  # a device or tensor type without the fused kernel
        logger.info("fused AdamW unavailable (%s); using the default implementation", error)
        return torch.optim.AdamW(groups, **settings)


def lr_multiplier(step: int, schedule: str, warmup_steps: int, total_steps: int | None) -> float:
    """Factor on the peak learning rate for the optimizer step numbered `step` (from 0).

    Warmup rises linearly from 1/(warmup+1) to 1; afterwards "linear" falls to 0 at
    `total_steps`, "cosine" follows half a cosine to 0, "constant" stays at 1. Without a known
    `total_steps` (a pure time budget) every schedule stays constant after warmup.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant" or total_steps is None:
        return 1.0
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ConfigError(f"unknown learning-rate schedule {schedule!r}")


def resolve_warmup_steps(config: TrainingConfig, total_steps: int | None) -> int:
    """Warmup length in steps: warmup_steps if set, else warmup_ratio of the total steps."""
    if config.warmup_steps > 0:
        return config.warmup_steps
    if config.warmup_ratio > 0:
        if total_steps is None:
            raise ConfigError(
                "warmup_ratio needs a known number of steps; with only max_time give warmup_steps"
            )
        return int(round(config.warmup_ratio * total_steps))
    return 0


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, total_steps: int | None
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR applying `lr_multiplier`; its state (a step counter) saves as plain JSON."""
    warmup = resolve_warmup_steps(config, total_steps)
    if total_steps is None and config.lr_schedule != "constant":
        logger.warning(
            "only a time budget is set, so the %s decay has no known end: the learning rate "
            "stays constant after %d warmup steps",
            config.lr_schedule,
            warmup,
        )
    schedule = config.lr_schedule

    def multiplier(step: int) -> float:
        return lr_multiplier(step, schedule, warmup, total_steps)

    # A plain function (not a callable object) keeps LambdaLR's state dict free of it.
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
