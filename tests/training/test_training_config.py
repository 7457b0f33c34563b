"""TrainingConfig validation, duration parsing and the shared command-line flags."""

import argparse

import pytest

from bertkit.errors import ConfigError
from bertkit.training import TrainingConfig, add_training_args, config_from_args, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2h5m7s", 7507.0),
        (" 45 S ", 45.0),
        (12, 12.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration_accepts_common_forms(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "1h1h", "m10", "-5", "0", "1h 30"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_config_needs_a_budget_and_sane_values():
    with pytest.raises(ConfigError, match="budget"):
        TrainingConfig().validate()
    with pytest.raises(ConfigError, match="precision"):
        TrainingConfig(max_steps=1, precision="fp16").validate()
    with pytest.raises(ConfigError, match="batch_size"):
        TrainingConfig(max_steps=1, batch_size=0).validate()
    assert TrainingConfig(max_time=5).validate().max_time == 5


def test_flags_round_trip_with_per_command_defaults():
    parser = argparse.ArgumentParser()
    add_training_args(parser, {"learning_rate": 1e-4, "max_steps": 100})
    args = parser.parse_args(["--max-time", "1h30m", "--batch-size", "16", "--strategy", "ddp"])
    config = config_from_args(args)
    assert config.learning_rate == 1e-4  # the command's default, not the dataclass's
    assert config.max_steps == 100
    assert config.max_time == 5400.0
    assert (config.batch_size, config.strategy) == (16, "ddp")
    assert config.progress_bar  # the CLI shows a progress bar unless --no-progress

    args = parser.parse_args(["--lr", "3e-4", "--max-grad-norm", "0", "--no-progress", "--resume"])
    config = config_from_args(args, output_dir="runs/x")
    assert (config.learning_rate, config.max_grad_norm) == (3e-4, None)
    assert (config.progress_bar, config.resume, config.output_dir) == (False, True, "runs/x")


def test_flags_reject_bad_duration_and_unknown_defaults():
    parser = add_training_args(argparse.ArgumentParser())
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-time", "soon"])
    with pytest.raises(ValueError, match="unknown"):
        add_training_args(argparse.ArgumentParser(), {"learning_rat": 1.0})
