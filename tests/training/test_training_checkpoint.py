"""Checkpoints: exact resume after SIGKILL, pruning, corrupt and half-written folders."""

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trainer_tiny import TinyDataset, flatten, read_csv, subprocess_env, tiny_model, train_columns
from trainer_worker import run

from bertkit.errors import CheckpointError
from bertkit.training import Trainer, TrainingConfig, latest_checkpoint, list_checkpoints
from bertkit.training.checkpoint import capture_rng_state, restore_rng_state

WORKER = Path(__file__).with_name("trainer_worker.py")
torch.set_num_threads(1)


def _final_weights(output_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(output_dir) / "model" / "model.safetensors"))


def test_resume_after_sigkill_reproduces_the_uninterrupted_run(tmp_path):
    # 16 steps of 2 micro-batches (dropout 0.2, cosine schedule, eval every 4 steps);
    # checkpoints every 5 steps. The killed run dies in the first forward of step 12
    # (2 forwards per step plus one per evaluation at steps 4 and 8: forward number 25).
    flags = ["--with-eval"]
    reference = run(["--output-dir", str(tmp_path / "reference"), *flags])
    assert reference.global_step == 16

    killed_dir = tmp_path / "killed"
    process = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "--output-dir",
            str(killed_dir),
            "--kill-at-forward",
            "25",
            *flags,
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert [step for step, _ in list_checkpoints(killed_dir)] == [5, 10]
    logged_before_kill = [step for step, _, _ in train_columns(killed_dir / "metrics.csv")]
    assert logged_before_kill[-1] == 11  # rows past the checkpoint that resume must drop

    resumed = run(["--output-dir", str(killed_dir), "--resume", *flags])
    assert resumed.global_step == 16

    expected = train_columns(tmp_path / "reference" / "metrics.csv")
    got = train_columns(killed_dir / "metrics.csv")
    assert [row[0] for row in got] == list(range(1, 17))
    assert flatten(got) == pytest.approx(flatten(expected), abs=1e-6, rel=0)
    eval_rows = [r["eval_loss"] for r in read_csv(killed_dir / "metrics.csv") if r["eval_loss"]]
    reference_rows = read_csv(tmp_path / "reference" / "metrics.csv")
    assert eval_rows == [r["eval_loss"] for r in reference_rows if r["eval_loss"]]
    final, expected_final = _final_weights(killed_dir), _final_weights(tmp_path / "reference")
    assert all(torch.allclose(final[k], expected_final[k], atol=1e-6, rtol=0) for k in final)
    assert resumed.best_metric == pytest.approx(reference.best_metric, abs=1e-6)


def test_resume_without_dropout_restore_would_differ(tmp_path):
    # Guards the test above: with dropout, a resume that reseeds instead of restoring the RNG
    # must produce different losses, so an exact match there means the RNG was restored.
    run(["--output-dir", str(tmp_path / "a"), "--max-steps", "6", "--save-every", "3"])
    state_path = tmp_path / "a" / "checkpoints" / "step-0000003" / "trainer_state.json"
    state = json.loads(state_path.read_text())
    state["world_size"] = 99  # the trainer reseeds dropout when the world size changed
    state_path.write_text(json.dumps(state))
    (tmp_path / "a" / "checkpoints" / "step-0000006").rename(tmp_path / "a" / "ignored")
    reference = train_columns(tmp_path / "a" / "metrics.csv")
    run(["--output-dir", str(tmp_path / "a"), "--max-steps", "6", "--save-every", "3", "--resume"])
    resumed = train_columns(tmp_path / "a" / "metrics.csv")
    assert resumed[:3] == reference[:3]
    assert flatten(resumed[3:]) != pytest.approx(flatten(reference[3:]), abs=1e-6)


def test_rng_state_round_trips_through_json():
    torch.manual_seed(1)
    saved = json.loads(json.dumps(capture_rng_state()))
    expected = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    torch.manual_seed(2)
    restore_rng_state(saved)
    got = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def _short_run(output_dir: Path, resume: bool = False, **overrides):
    settings = dict(
        output_dir=str(output_dir),
        max_steps=9,
        batch_size=4,
        save_every=2,
        keep_last=2,
        log_every=1,
        resume=resume,
        precision="fp32",
    )
    settings.update(overrides)
    return Trainer(tiny_model(), TrainingConfig(**settings), TinyDataset(16)).train()


def test_only_the_last_k_checkpoints_are_kept(tmp_path):
    _short_run(tmp_path)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [8, 9]
    state = json.loads(
        (tmp_path / "checkpoints" / "step-0000009" / "trainer_state.json").read_text()
    )
    assert state["loop"]["step"] == 9 and state["world_size"] == 1
    optimizer = load_file(str(tmp_path / "checkpoints" / "step-0000009" / "optimizer.safetensors"))
    assert "state/embeddings.weight/exp_avg" in optimizer


def test_half_written_temp_folders_are_ignored(tmp_path):
    _short_run(tmp_path, max_steps=4)
    leftover = tmp_path / "checkpoints" / ".step-0000006.tmp-abcd"
    leftover.mkdir()
    (leftover / "trainer_state.json").write_text("{")
    assert latest_checkpoint(tmp_path).name == "step-0000004"
    result = _short_run(tmp_path, resume=True, max_steps=5)
    assert result.global_step == 5


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate_optimizer", "truncated"),
        ("garbage_state", "corrupt"),
        ("missing_state", "not a complete checkpoint"),
        ("garbage_weights", "model"),
    ],
)
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, damage, message):
    _short_run(tmp_path, max_steps=2)
    folder = latest_checkpoint(tmp_path)
    if damage == "truncate_optimizer":
        data = (folder / "optimizer.safetensors").read_bytes()
        (folder / "optimizer.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "garbage_state":
        (folder / "trainer_state.json").write_text('{"loop": ')
    elif damage == "missing_state":
        (folder / "trainer_state.json").unlink()
    else:
        weights = folder / "model" / "model.safetensors"
        size = weights.stat().st_size
        weights.write_bytes(b"\x00" * size)  # same size, unreadable content
    with pytest.raises(CheckpointError, match=message):
        _short_run(tmp_path, resume=True, max_steps=4)


def test_checkpoint_from_another_model_is_a_clear_error(tmp_path):
    _short_run(tmp_path, max_steps=2)
    config = TrainingConfig(output_dir=str(tmp_path), max_steps=4, batch_size=4, resume=True)
    other = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="does not fit"):
        Trainer(other, config, TinyDataset(16)).train()


def test_resuming_a_finished_run_takes_no_further_step(tmp_path):
    first = _short_run(tmp_path / "run")
    again = _short_run(tmp_path / "run", resume=True)
    assert first.global_step == again.global_step == 9
    steps = [row["step"] for row in csv.DictReader(open(tmp_path / "run" / "metrics.csv"))]
    assert steps.count("9") == 1


def test_pruning_and_replacing_keep_files_a_user_put_in_a_checkpoint(tmp_path, caplog):
    from bertkit.training.checkpoint import save_weights, write_checkpoint

    _short_run(tmp_path, max_steps=4)  # keeps step 2 and step 4
    old = tmp_path / "checkpoints" / "step-0000002"
    (old / "analysis.txt").write_text("mine")
    (old / "model" / "notes.txt").write_text("mine too")
    _short_run(tmp_path, resume=True, max_steps=6)  # prunes step 2
    assert sorted(p.relative_to(old).as_posix() for p in old.rglob("*")) == [
        "analysis.txt",
        "model",
        "model/notes.txt",
    ]
    assert "kept the 2 file(s) bertkit did not write" in caplog.text
    assert [step for step, _ in list_checkpoints(tmp_path)] == [4, 6]  # the rest is no checkpoint
    assert _short_run(tmp_path, resume=True, max_steps=8).global_step == 8

    model = tiny_model()
    state = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    best = tmp_path / "best"
    for _ in range(2):
        write_checkpoint(
            best, model=model, model_state=state, save_model_fn=save_weights, trainer_state={}
        )
        (best / "notes.txt").write_text("mine")
    write_checkpoint(
        best, model=model, model_state=state, save_model_fn=save_weights, trainer_state={}
    )
    assert (tmp_path / "best-kept" / "notes.txt").read_text() == "mine"
    assert [p.name for p in (tmp_path / "best-kept").iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in best.iterdir()) == ["model", "trainer_state.json"]
    assert (tmp_path / "best-kept-2" / "notes.txt").is_file()
