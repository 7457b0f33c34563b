"""`bertkit pretrain` end to end on a tiny config: outputs, exact resume after SIGKILL,
DDP under torchrun equal to one process, and clear errors on bad input."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bertkit.cli import main
from bertkit.fill_mask import fill_mask, load_fill_mask_model
from bertkit.training import latest_checkpoint, list_checkpoints

WORKER = Path(__file__).with_name("pretrain_worker.py")
TINY = [
    "--preset",
    "tiny",
    "--hidden-size",
    "32",
    "--num-layers",
    "2",
    "--num-heads",
    "2",
    "--intermediate-size",
    "64",
    "--max-seq-length",
    "32",
    "--no-progress",
    "--precision",
    "fp32",  # runs are compared exactly
]


def _flags(corpus, tokenizer, *extra):
    return [
        "--corpus",
        str(corpus),
        "--tokenizer",
        str(tokenizer),
        *TINY,
        "--learning-rate",
        "3e-3",
        "--warmup-steps",
        "2",
        "--lr-schedule",
        "cosine",
        "--log-every",
        "1",
        "--seed",
        "5",
        *extra,
    ]


def _env(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", BERTKIT_CACHE=str(tmp_path / "bertkit-cache"))
    source = str(Path(__file__).parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([source, env.get("PYTHONPATH", "")])
    return env


def _rows(run_dir):
    with open(Path(run_dir) / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _train_curve(run_dir):
    return [(int(r["step"]), float(r["loss"]), float(r["lr"])) for r in _rows(run_dir) if r["loss"]]


def _weights(run_dir):
    return load_file(str(Path(run_dir) / "model" / "model.safetensors"))


def test_pretrain_writes_a_usable_model_and_metrics(tmp_path, corpus_file, tokenizer_dir):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    flags = _flags(
        corpus_file,
        tokenizer_dir,
        "--max-steps",
        "6",
        "--batch-size",
        "8",
        "--eval-every",
        "3",
        "--output-dir",
        str(out),
    )
    assert main(["pretrain", *flags]) == 0
    rows = _rows(out)
    evals = [r for r in rows if r.get("eval_loss")]
    assert [int(r["step"]) for r in evals] == [3, 6]
    for row in evals:
        assert 0.0 <= float(row["eval_accuracy"]) <= 1.0
        assert float(row["eval_perplexity"]) == pytest.approx(
            2.718281828 ** float(row["eval_loss"]), rel=1e-6
        )
    assert all(float(r["tokens_per_s"]) > 0 for r in rows if r["loss"])
    model, tokenizer = load_fill_mask_model(out / "model")
    [[fillers]] = fill_mask(model, tokenizer, ["the cat [MASK] the river."], top_k=3)
    assert len(fillers) == 3 and fillers[0].probability >= fillers[-1].probability
    for folder in (out, latest_checkpoint(out)):  # a run folder and a checkpoint stand for it
        again, _ = load_fill_mask_model(folder)
        [[same]] = fill_mask(again, tokenizer, ["the cat [MASK] the river."], top_k=3)
        assert [f.token_id for f in same] == [f.token_id for f in fillers]


def test_resume_after_sigkill_equals_the_uninterrupted_run(tmp_path, corpus_file, tokenizer_dir):
    flags = _flags(
        corpus_file,
        tokenizer_dir,
        "--max-steps",
        "10",
        "--batch-size",
        "4",
        "--grad-accumulation-steps",
        "2",
        "--save-every",
        "4",
        "--eval-every",
        "5",
        "--hidden-dropout",
        "0.1",
    )
    env = _env(tmp_path)

    def run(*args, **kwargs):
        return subprocess.run(
            [sys.executable, str(WORKER), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            **kwargs,
        )

    reference = run("--", *flags, "--output-dir", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    killed_dir = tmp_path / "killed"
    # Two micro-batch forwards per step and one evaluation forward after step 5, so forward 16
    # is the first of step 8: after the step-4 checkpoint, before step 8's.
    killed = run("--kill-at-forward", "16", "--", *flags, "--output-dir", str(killed_dir))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [step for step, _ in list_checkpoints(killed_dir)] == [4]
    assert max(step for step, _, _ in _train_curve(killed_dir)) > 4

    resumed = run("--", *flags, "--output-dir", str(killed_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _train_curve(killed_dir) == _train_curve(tmp_path / "reference")
    evals = lambda d: [(r["step"], r["eval_loss"]) for r in _rows(d) if r.get("eval_loss")]  # noqa: E731
    assert evals(killed_dir) == evals(tmp_path / "reference")
    final, expected = _weights(killed_dir), _weights(tmp_path / "reference")
    assert all(torch.equal(final[name], expected[name]) for name in expected)


@pytest.mark.distributed
def test_two_process_ddp_equals_one_process(tmp_path, corpus_file, tokenizer_dir):
    # Dropout draws from each rank's own RNG stream, so equality needs it off; data order and
    # masks are the same by construction.
    flags = _flags(
        corpus_file,
        tokenizer_dir,
        "--max-steps",
        "5",
        "--eval-every",
        "5",
        "--hidden-dropout",
        "0",
        "--attention-dropout",
        "0",
    )
    env = dict(_env(tmp_path), GLOO_SOCKET_IFNAME="lo")  # the process group stays on loopback
    single = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "--",
            *flags,
            "--batch-size",
            "8",
            "--output-dir",
            str(tmp_path / "single"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr
    double = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(WORKER),
            "--",
            *flags,
            "--batch-size",
            "4",
            "--output-dir",
            str(tmp_path / "double"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    one, two = _train_curve(tmp_path / "single"), _train_curve(tmp_path / "double")
    assert [s for s, _, _ in one] == [s for s, _, _ in two] == [1, 2, 3, 4, 5]
    for (_, loss_one, lr_one), (_, loss_two, lr_two) in zip(one, two, strict=True):
        assert loss_two == pytest.approx(loss_one, rel=1e-4, abs=1e-5)
        assert lr_two == lr_one
    eval_one = [float(r["eval_accuracy"]) for r in _rows(tmp_path / "single") if r.get("eval_loss")]
    eval_two = [float(r["eval_accuracy"]) for r in _rows(tmp_path / "double") if r.get("eval_loss")]
    assert eval_two == pytest.approx(eval_one, abs=1e-6)
    final, expected = _weights(tmp_path / "double"), _weights(tmp_path / "single")
    for name in expected:
        torch.testing.assert_close(final[name], expected[name], rtol=1e-4, atol=1e-5)


def _bad_input_runs(tmp_path, tokenizer_dir):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n\n")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Caf\u00e9 au lait.\n".encode() + "Gar\u00e7on.\n".encode("latin-1"))
    small = tmp_path / "small.txt"
    small.write_text("Only a few words here.\n\nAnd a second short document.\n")
    no_mask = tmp_path / "no-mask-vocab"
    no_mask.mkdir()
    vocab = (Path(tokenizer_dir) / "vocab.txt").read_text().splitlines()
    (no_mask / "vocab.txt").write_text("\n".join(t for t in vocab if t != "[MASK]") + "\n")
    return [
        ([str(empty)], str(tokenizer_dir), "holds no text"),
        ([str(binary)], str(tokenizer_dir), "binary.txt, line 1: NUL byte"),
        ([str(latin)], str(tokenizer_dir), "latin1.txt, line 2: not UTF-8"),
        ([str(small)], str(tokenizer_dir), "fewer than one batch of 32"),
        ([str(small)], str(no_mask), "[MASK]"),
    ]


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, tokenizer_dir, capsys):
    for number, (corpus, tokenizer, message) in enumerate(_bad_input_runs(tmp_path, tokenizer_dir)):
        out = tmp_path / f"out-{number}"
        code = main(
            [
                "pretrain",
                "--corpus",
                *corpus,
                "--tokenizer",
                tokenizer,
                *TINY,
                "--max-steps",
                "2",
                "--batch-size",
                "32",
                "--output-dir",
                str(out),
            ]
        )
        error = capsys.readouterr().err.strip().splitlines()
        assert code == 2, message
        assert message in error[-1] and error[-1].startswith("bertkit: error:"), error
        assert not out.exists(), message
    cache = tmp_path / "bertkit-cache" / "mlm-data"
    # Only complete caches remain (the too-small corpus packs fine; it is just too small):
    # no temporary folder of an interrupted build.
    folders = [p for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert len(folders) == 1 and (folders[0] / "meta.json").is_file(), folders


def test_learns_a_vocabulary_when_none_is_given(tmp_path, corpus_file):
    out = tmp_path / "run"
    flags = [
        "--corpus",
        str(corpus_file),
        *TINY,
        "--vocab-size",
        "150",
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--output-dir",
        str(out),
    ]
    assert main(["pretrain", *flags]) == 0
    vocab = (out / "tokenizer" / "vocab.txt").read_text().splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(vocab) <= 150
    assert (out / "model" / "vocab.txt").read_text().splitlines() == vocab
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no lock/temp
    # Resuming reuses the saved vocabulary (and cache) rather than learning a new one.
    assert (
        main(["pretrain", *flags[:-4], "--max-steps", "3", "--output-dir", str(out), "--resume"])
        == 0
    )
    assert [step for step, _ in list_checkpoints(out)][-1] == 3


def test_output_folders_that_would_be_refused_at_the_end_are_refused_first(
    tmp_path, corpus_file, tokenizer_dir, capsys
):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "README.md").write_text("my notes")
    argv = ["pretrain", "--corpus", str(corpus_file), "--tokenizer", str(tokenizer_dir), *TINY]
    argv += ["--max-steps", "2", "--batch-size", "4", "--output-dir"]
    assert main([*argv, str(run)]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert sorted(p.name for p in run.rglob("*")) == ["README.md", "model"]  # nothing trained
    (tmp_path / "afile").write_text("x")
    assert main([*argv, str(tmp_path / "afile")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_resume_with_other_data_or_model_settings_is_refused(
    tmp_path, corpus_file, tokenizer_dir, capsys
):
    run = str(tmp_path / "run")
    argv = ["pretrain", "--corpus", str(corpus_file), "--tokenizer", str(tokenizer_dir), *TINY]
    argv += ["--batch-size", "4", "--save-every", "2", "--output-dir", run, "--max-steps"]
    assert main([*argv, "2", "--max-seq-length", "32"]) == 0
    capsys.readouterr()
    assert main([*argv, "4", "--max-seq-length", "64", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--max-seq-length 64 (the run has 32)" in err and "--init-from" in err
    assert main([*argv, "4", "--max-seq-length", "32", "--hidden-size", "48", "--resume"]) == 2
    assert "model hidden_size 48" in capsys.readouterr().err
    assert main([*argv, "4", "--max-seq-length", "32", "--seed", "7", "--resume"]) == 2
    assert "--seed 7 (the run has 42)" in capsys.readouterr().err
    assert main([*argv, "4", "--max-seq-length", "32", "--resume"]) == 0  # the same: resumes
    assert [step for step, _ in list_checkpoints(run)] == [2, 4]
