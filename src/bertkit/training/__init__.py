"""The shared trainer: configuration, optimizer and schedules, data order, checkpoints, loop.

from bertkit.training import Trainer, TrainingConfig, add_training_args, config_from_args
"""

from bertkit.training.checkpoint import latest_checkpoint, list_checkpoints
from bertkit.training.config import (
    TrainingConfig,
    add_training_args,
    config_from_args,
    parse_duration,
)
from bertkit.training.data_order import EXAMPLE_SEED_KEY, default_collate_fn, example_seed
from bertkit.training.optim import build_optimizer, build_scheduler, lr_multiplier, param_groups
from bertkit.training.trainer import (
    Trainer,
    TrainResult,
    check_finetune_folders,
    check_run_folder,
    seed_everything,
)

__all__ = [
    "EXAMPLE_SEED_KEY",
    "TrainResult",
    "Trainer",
    "TrainingConfig",
    "add_training_args",
    "build_optimizer",
    "build_scheduler",
    "check_finetune_folders",
    "check_run_folder",
    "config_from_args",
    "default_collate_fn",
    "example_seed",
    "latest_checkpoint",
    "list_checkpoints",
    "lr_multiplier",
    "param_groups",
    "parse_duration",
    "seed_everything",
]
