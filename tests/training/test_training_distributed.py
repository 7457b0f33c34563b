"""A 2-process gloo run under torchrun equals a 1-process run with the same global batch."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trainer_tiny import flatten, subprocess_env, train_columns
from trainer_worker import run

from bertkit.training import latest_checkpoint

WORKER = Path(__file__).with_name("trainer_worker.py")
# 44 examples: 5 full global batches of 8 and a ragged one of 4; every third label is -100,
# so the two ranks hold different numbers of labelled items in most micro-batches.
COMMON = [
    "--dropout",
    "0",
    "--dataset-size",
    "44",
    "--max-steps",
    "6",
    "--save-every",
    "0",
    "--grad-accumulation-steps",
    "2",
    "--lr-schedule",
    "linear",
    "--warmup-steps",
    "2",
]


def _torchrun(output_dir: Path, *flags: str) -> None:
    env = subprocess_env()
    env["GLOO_SOCKET_IFNAME"] = "lo"  # keep the process group on the loopback interface
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
        "--output-dir",
        str(output_dir),
        "--batch-size",
        "4",
        *COMMON,
        *flags,
    ]
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]


def _weights(output_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(output_dir) / "model" / "model.safetensors"))


@pytest.mark.distributed
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path, strategy):
    single = run(["--output-dir", str(tmp_path / "single"), "--batch-size", "8", *COMMON])
    assert single.global_step == 6
    _torchrun(tmp_path / "ddp", "--strategy", strategy)

    expected = train_columns(tmp_path / "single" / "metrics.csv")
    got = train_columns(tmp_path / "ddp" / "metrics.csv")
    assert [row[0] for row in got] == [1, 2, 3, 4, 5, 6]
    assert flatten(got) == pytest.approx(flatten(expected), abs=1e-5, rel=0)
    reference, weights = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    assert set(reference) == set(weights)
    for name in reference:
        assert torch.allclose(weights[name], reference[name], atol=1e-5, rtol=0), name
    start = _weights_at_start()
    assert any(not torch.allclose(start[n], reference[n], atol=1e-3) for n in reference)


def _weights_at_start() -> dict[str, torch.Tensor]:
    from trainer_tiny import tiny_model

    return tiny_model(seed=3).state_dict()
