"""Training configuration shared by pretraining and every fine-tuning task, plus its CLI flags.

`add_training_args` puts the same flags on every training subcommand; each command passes its
own defaults (a fine-tuning learning rate differs from a pretraining one), and
`config_from_args` turns the parsed namespace back into a `TrainingConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from bertkit.errors import ConfigError

LR_SCHEDULES = ("linear", "cosine", "constant")
PRECISIONS = ("auto", "bf16", "fp32")
STRATEGIES = ("auto", "ddp", "fsdp", "none")


@dataclass
class TrainingConfig:
    """Everything the Trainer needs to know; validated by `validate()`."""

    output_dir: str = "runs/default"  # checkpoints, metrics.csv, best/ and tensorboard/ go here
    seed: int = 42  # seeds torch/numpy/random, data order and per-example collation seeds
    resume: bool = False  # continue from the newest complete checkpoint in output_dir

    # Optimizer: AdamW with decoupled weight decay (none on biases and norm weights).
    learning_rate: float = 5e-5  # peak learning rate, reached at the end of warmup
    weight_decay: float = 0.01  # decoupled weight decay for matrices and embeddings
    adam_beta1: float = 0.9  # first-moment decay
    adam_beta2: float = 0.999  # second-moment decay
    adam_epsilon: float = 1e-8  # added to the denominator for numerical stability

    # Learning-rate schedule: linear warmup, then decay to zero (or stay constant).
    lr_schedule: str = "linear"  # one of LR_SCHEDULES
    warmup_steps: int = 0  # warmup length in optimizer steps (wins over warmup_ratio)
    warmup_ratio: float = 0.0  # warmup length as a fraction of the total steps

    # Budget: whichever of the given limits is reached first stops training.
    max_steps: int | None = None  # optimizer steps
    num_epochs: float | None = None  # passes over the training set (fractions allowed)
    max_time: float | None = None  # seconds of training, summed across resumed sessions

    # Batching: global batch = batch_size * grad_accumulation_steps * world_size examples.
    batch_size: int = 32  # examples per device per micro-batch
    grad_accumulation_steps: int = 1  # micro-batches per optimizer step
    max_grad_norm: float | None = 1.0  # clip the global gradient norm; None or 0 disables
    drop_last: bool = False  # drop an epoch's last global micro-batch when it is incomplete
    num_workers: int = 0  # DataLoader worker processes per rank
    pin_memory: bool = False  # pin host memory for faster copies to the GPU

    # Numerics and speed.
    precision: str = "auto"  # "auto" = bf16 autocast where bf16_is_fast(device), else fp32
    compile: bool = False  # torch.compile the model before training

    # Logging, evaluation and checkpoints, all in optimizer steps; 0 disables the periodic one.
    log_every: int = 10  # rows in metrics.csv / TensorBoard, progress bar refresh
    eval_every: int = 0  # run evaluate_fn every N steps (it always runs at the end)
    eval_each_epoch: bool = False  # also run evaluate_fn at the end of every epoch
    save_every: int = 1000  # write a checkpoint every N steps (one is always written at the end)
    keep_last: int = 3  # checkpoints kept in output_dir/checkpoints; older ones are removed

    # Early stopping and best model, driven by an evaluation metric such as "eval_loss".
    metric_for_best: str | None = None  # None: "eval_loss" when evaluate_fn reports a loss
    greater_is_better: bool = False  # True for accuracy-like metrics
    early_stopping_patience: int | None = None  # evaluations without improvement before stop

    # Distribution: "auto" picks DDP under torchrun with several processes, else none.
    strategy: str = "auto"  # one of STRATEGIES

    progress_bar: bool = False  # tqdm bar on rank 0 (the CLI turns it on)

    def validate(self) -> TrainingConfig:
        """Raise ConfigError on settings that cannot work together; return self."""
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("strategy", self.strategy, STRATEGIES)
        if self.max_steps is None and self.num_epochs is None and self.max_time is None:
            raise ConfigError("give a training budget: max_steps, num_epochs or max_time")
        positive = {
            "batch_size": self.batch_size,
            "grad_accumulation_steps": self.grad_accumulation_steps,
            "keep_last": self.keep_last,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        for name in ("max_steps", "num_epochs", "max_time"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        for name in ("warmup_steps", "log_every", "eval_every", "save_every", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ConfigError("early_stopping_patience must be at least 1")
        return self


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration such as "90", "90s", "10m", "1h30m" or "1.5h"."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        cleaned = text.strip().lower().replace(" ", "")
        try:
            seconds = float(cleaned)
        except ValueError:
            parts = _DURATION_PART.findall(cleaned)
            if not parts or "".join(n + u for n, u in parts) != cleaned:
                raise ConfigError(
                    f"cannot read duration {text!r}; use seconds or e.g. 90s, 10m, 1h30m"
                ) from None
            seconds = _sum_duration_parts(text, parts)
    if seconds <= 0:
        raise ConfigError(f"duration must be positive, got {text!r}")
    return seconds


def _sum_duration_parts(text: str, parts: list[tuple[str, str]]) -> float:
    units = [unit for _, unit in parts]
    if len(set(units)) != len(units):
        raise ConfigError(f"duration {text!r} repeats a unit")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "") else int(text)


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "") else float(text)


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_training_args(
    parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None
) -> argparse.ArgumentParser:
    """Add the trainer's flags to `parser`; `defaults` overrides TrainingConfig's per command."""
    values = dataclasses.asdict(TrainingConfig())
    unknown = set(defaults or {}) - set(values)
    if unknown:
        raise ValueError(f"unknown TrainingConfig fields in defaults: {sorted(unknown)}")
    values.update(defaults or {})
    group = parser.add_argument_group("training")
    add = group.add_argument

    add(
        "--output-dir",
        default=values["output_dir"],
        help="run folder: checkpoints, metrics.csv (default: "
        + ("<--out>-checkpoints" if values["output_dir"] is None else "%(default)s")
        + ")",
    )
    add("--seed", type=int, default=values["seed"], help="random seed (default: %(default)s)")
    add(
        "--resume",
        action="store_true",
        default=values["resume"],
        help="continue from the newest complete checkpoint in --output-dir",
    )
    add("--learning-rate", "--lr", type=float, default=values["learning_rate"])
    add("--weight-decay", type=float, default=values["weight_decay"])
    add("--adam-beta1", type=float, default=values["adam_beta1"])
    add("--adam-beta2", type=float, default=values["adam_beta2"])
    add("--adam-epsilon", type=float, default=values["adam_epsilon"])
    add("--lr-schedule", choices=LR_SCHEDULES, default=values["lr_schedule"])
    add("--warmup-steps", type=int, default=values["warmup_steps"])
    add("--warmup-ratio", type=float, default=values["warmup_ratio"])
    add("--max-steps", type=_optional_int, default=values["max_steps"])
    add("--num-epochs", type=_optional_float, default=values["num_epochs"])
    add(
        "--max-time",
        type=_duration_arg,
        default=values["max_time"],
        help="time budget, e.g. 90s, 10m, 1h30m or plain seconds",
    )
    add("--batch-size", type=int, default=values["batch_size"], help="examples per device")
    add("--grad-accumulation-steps", type=int, default=values["grad_accumulation_steps"])
    add(
        "--max-grad-norm",
        type=_optional_float,
        default=values["max_grad_norm"],
        help="clip gradients to this global norm; 0 or none disables",
    )
    add("--drop-last", action=argparse.BooleanOptionalAction, default=values["drop_last"])
    add("--num-workers", type=int, default=values["num_workers"])
    add("--pin-memory", action=argparse.BooleanOptionalAction, default=values["pin_memory"])
    add("--precision", choices=PRECISIONS, default=values["precision"])
    add("--compile", action=argparse.BooleanOptionalAction, default=values["compile"])
    add("--log-every", type=int, default=values["log_every"])
    add("--eval-every", type=int, default=values["eval_every"])
    add(
        "--eval-each-epoch",
        action=argparse.BooleanOptionalAction,
        default=values["eval_each_epoch"],
        help="also evaluate at the end of every epoch",
    )
    add("--save-every", type=int, default=values["save_every"])
    add("--keep-last", type=int, default=values["keep_last"])
    add("--metric-for-best", default=values["metric_for_best"], help="e.g. eval_loss")
    add(
        "--greater-is-better",
        action=argparse.BooleanOptionalAction,
        default=values["greater_is_better"],
    )
    add("--early-stopping-patience", type=_optional_int, default=values["early_stopping_patience"])
    add("--strategy", choices=STRATEGIES, default=values["strategy"])
    add(
        "--progress",
        dest="progress_bar",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar on rank 0",
    )
    return parser


def config_from_args(args: argparse.Namespace, **overrides: Any) -> TrainingConfig:
    """Build a validated TrainingConfig from flags added by `add_training_args`."""
    names = [field.name for field in dataclasses.fields(TrainingConfig)]
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    values.update(overrides)
    config = TrainingConfig(**values)
    if config.max_grad_norm == 0:
        config.max_grad_norm = None
    return config.validate()
