"""The real command-line path: finetune a tiny BERT2BERT to reverse 3-digit strings, then
generate, evaluate and predict with it; bad input exits 2 with a one-line error."""

from __future__ import annotations

import json
import random

import pytest
import torch

from bertkit.checkpoint import save_model
from bertkit.cli import main
from bertkit.model import BertForMaskedLM


def reverse_pairs(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    digits = [" ".join(rng.choice("0123456789") for _ in range(3)) for _ in range(count)]
    return [{"source": d, "target": " ".join(reversed(d.split()))} for d in digits]


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared CPU: more threads only wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config, tiny_tokenizer):
    """A tiny BERT2BERT fine-tuned through `bertkit finetune seq2seq` (120 steps)."""
    root = tmp_path_factory.mktemp("seq2seq-cli")
    torch.manual_seed(0)
    save_model(BertForMaskedLM(tiny_config), root / "bert", tiny_tokenizer)
    pairs = reverse_pairs(400, seed=0)
    train = write_jsonl(root / "train.jsonl", pairs[:360])
    dev = write_jsonl(root / "dev.jsonl", pairs[360:])
    code = main(
            ["finetune", "seq2seq", "--model", str(root / "bert"), "--train", train,
             "--eval", dev, "--out", str(root / "model"), "--output-dir", str(root / "run"),
             "--max-steps", "120", "--num-epochs", "none", "--batch-size", "32", "--lr", "5e-3",
             "--eval-every", "120", "--metric-for-best", "exact_match", "--greater-is-better",
             "--max-source-length", "16", "--max-target-length", "8", "--beams", "2",
             "--precision", "fp32", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    return root


def test_finetuned_model_reverses_digits(trained, capsys, monkeypatch):
    dev = [json.loads(line) for line in (trained / "dev.jsonl").read_text().splitlines()]
    (trained / "sources.txt").write_text("\n".join(d["source"] for d in dev) + "\n")
    capsys.readouterr()
    assert main(["generate", str(trained / "model"), "--input", str(trained / "sources.txt"),
                 "--no-progress"]) == 0  # fmt: skip
    outputs = capsys.readouterr().out.splitlines()
    correct = sum(out == d["target"] for out, d in zip(outputs, dev, strict=True))
    assert correct >= 0.9 * len(dev), outputs[:10]
    config = json.loads((trained / "model" / "config.json").read_text())
    assert config["bertkit_task"] == "seq2seq" and config["bertkit_generation"]["num_beams"] == 2

    assert main(["evaluate", str(trained / "model"), "--task", "seq2seq", "--data",
                 str(trained / "dev.jsonl"), "--beams", "1", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["exact_match"] >= 90 and report["num_beams"] == 1 and "bleu" in report

    monkeypatch.setattr("sys.stdin", _Stdin('{"source": "1 2 3"}\n{"source": "9 0 7"}\n'))
    assert main(["predict", str(trained / "model"), "--task", "seq2seq", "--input", "-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["line"] for row in rows] == [1, 2]
    assert [row["output"] for row in rows] == ["3 2 1", "7 0 9"]


class _Stdin:
    def __init__(self, text: str):
        import io

        self.buffer = io.BytesIO(text.encode())


def test_bad_input_exits_with_one_line(trained, capsys, tmp_path):
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"source": "1 2 3", "target": "3 2 1"}, {"src": "4 5 6", "target": "6 5 4"}],
    )
    code = main(["finetune", "seq2seq", "--model", str(trained / "bert"), "--train", bad,
                 "--out", str(tmp_path / "m"), "--max-steps", "1", "--no-progress"])  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "bad.jsonl, line 2: no source field 'source' (fields: 'src', 'target')" in error

    long_source = tmp_path / "long.txt"
    long_source.write_text("1 2 3\n" + " ".join("7" * 20) + "\n")
    code = main(["generate", str(trained / "model"), "--input", str(long_source)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "line 2: the source has 22 tokens, more than the maximum of 16" in error
    assert main(["generate", str(trained / "model"), "--input", str(long_source), "--truncate",
                 "--no-progress"]) == 0  # fmt: skip
    assert len(capsys.readouterr().out.splitlines()) == 2

    code = main(["generate", str(trained / "model"), "--input", str(long_source),
                 "--max-length", "65"])  # fmt: skip
    assert code == 2 and "exceeds the decoder's 64 positions" in capsys.readouterr().err
