"""`bertkit info / tokenize / embed`, and their error paths: one line, non-zero, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bertkit.cli import main
from bertkit.embeddings import SentenceEncoder


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("bertkit: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture()
def model_folder(tiny_folder, tmp_path):
    """A private copy of the tiny encoder folder that a test may damage."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    return folder


# ---- what works --------------------------------------------------------------------------


def test_info_reports_architecture_size_and_heads(capsys, make_tiny_folder, tiny_config):
    folder = make_tiny_folder("sequence-classification", labels=["neg", "pos"])
    code, out, _ = run_cli(capsys, "info", folder, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["architecture"] == "BertForSequenceClassification"
    assert info["layers"] == 2 and info["hidden_size"] == 32 and info["attention_heads"] == 4
    assert info["heads"] == ["classifier"] and info["pooler"] is True
    assert info["labels"] == ["neg", "pos"]
    expected_parameters = sum(
        p.numel()
        for p in __import__("bertkit").load_model(folder, "sequence-classification")[0].parameters()
    )
    assert info["parameters"] == expected_parameters
    assert info["tokenizer"].startswith(f"{tiny_config.vocab_size} tokens, lowercased")

    code, out, _ = run_cli(capsys, "info", folder)
    assert code == 0 and "BertForSequenceClassification" in out and "classifier" in out


def test_tokenize_prints_ids_segments_and_offsets(capsys, tiny_folder):
    code, out, err = run_cli(capsys, "tokenize", tiny_folder, "Hello quickly!", "--pair", "fox")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    tokens = [row[-1] for row in rows]
    assert tokens == ["[CLS]", "hello", "quick", "##ly", "!", "[SEP]", "fox", "[SEP]"]
    assert [row[1] for row in rows] == ["0"] * 6 + ["1"] * 2
    assert rows[2][2] == "6:11" and rows[3][2] == "11:13"
    assert "8 tokens" in err


@pytest.mark.parametrize("output_name", ["out.jsonl", "out.npy", "-"])
def test_embed_writes_jsonl_or_npy(capsys, tiny_folder, tmp_path, output_name):
    texts = ["the quick brown fox", "hello world", "a much longer text " * 30]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts[:2]) + "\n\n" + texts[2] + "\n", encoding="utf-8")
    output = "-" if output_name == "-" else tmp_path / output_name
    code, out, _ = run_cli(
        capsys,
        "embed",
        tiny_folder,
        "--input",
        source,
        "--output",
        output,
        "--batch-size",
        "2",
        "--normalize",
    )
    assert code == 0
    expected = SentenceEncoder.from_pretrained(tiny_folder).encode(texts, normalize=True)
    if output_name == "out.npy":
        vectors = np.load(output)
    else:
        lines = out.splitlines() if output == "-" else output.read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert [record["text"] for record in records] == texts  # blank line skipped
        vectors = np.array([record["embedding"] for record in records])
    assert vectors.shape == (3, 32)
    assert np.abs(vectors - expected).max() < 1e-6
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_reads_jsonl_input(capsys, tiny_folder, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "hello world", "id": 1}\n{"text": "fox"}\n', encoding="utf-8")
    code, out, _ = run_cli(capsys, "embed", tiny_folder, "--input", source)
    assert code == 0
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["hello world", "fox"]
    source.write_text('{"text": "ok"}\n{"txt": "no"}\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", source)
    assert_one_line_error(code, err, f"{source}:2", '"text"')


def test_embed_from_stdin_in_a_real_process(tiny_folder):
    """End to end: a separate process, texts on stdin, JSONL on stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "bertkit", "embed", str(tiny_folder), "--input", "-"],
        input="hello world\nthe fox\n",
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == ["hello world", "the fox"]
    assert all(len(r["embedding"]) == 32 for r in records)


# ---- the error paths -------------------------------------------------------------


def test_missing_folder(capsys, tmp_path):
    missing = tmp_path / "no-such-model"
    for command in (
        ["info", missing],
        ["tokenize", missing, "hi"],
        ["embed", missing, "--input", "-"],
    ):
        code, _, err = run_cli(capsys, *command)
        assert_one_line_error(code, err, str(missing), "neither a folder nor a known model")


def test_config_with_wrong_types(capsys, model_folder, tmp_path):
    config = json.loads((model_folder / "config.json").read_text())
    config["num_hidden_layers"] = "two"
    (model_folder / "config.json").write_text(json.dumps(config))
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    for command in (["info", model_folder], ["embed", model_folder, "--input", source]):
        code, _, err = run_cli(capsys, *command)
        assert_one_line_error(code, err, "config.json", "'num_hidden_layers' must be a number")


def test_vocabulary_that_does_not_match_the_embedding(capsys, model_folder, tmp_path):
    (model_folder / "tokenizer.json").unlink()
    with open(model_folder / "vocab.txt", "a", encoding="utf-8") as handle:
        handle.writelines(f"extra{i}\n" for i in range(10))
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    code, _, err = run_cli(capsys, "embed", model_folder, "--input", source)
    assert_one_line_error(code, err, "embedding has", "rows (vocab_size)")
    code, out, _ = run_cli(capsys, "info", model_folder)
    assert code == 0 and "unusable" in out  # info still describes the folder, and says why


def test_too_many_tokens_without_truncation_names_the_limit(capsys, tiny_folder, tmp_path):
    source = tmp_path / "long.txt"
    source.write_text("short text\n" + "fox " * 100 + "\n")
    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", source, "--no-truncate")
    assert_one_line_error(
        code, err, "text 2 has 102 tokens", "at most 64", "max_position_embeddings"
    )
    assert "index" not in err.lower()
    code, _, _ = run_cli(capsys, "embed", tiny_folder, "--input", source)  # truncating is fine
    assert code == 0


def test_corrupt_safetensors(capsys, model_folder, tmp_path):
    weights = model_folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    for command in (["info", model_folder], ["embed", model_folder, "--input", source]):
        code, _, err = run_cli(capsys, *command)
        assert_one_line_error(code, err, "model.safetensors is not a valid safetensors file")


def test_corrupt_safetensors_in_a_real_process(model_folder):
    weights = model_folder / "model.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage header}")
    result = subprocess.run(
        [sys.executable, "-m", "bertkit", "info", str(model_folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert_one_line_error(result.returncode, result.stderr, "not a valid safetensors file")
    assert result.returncode == 2 and result.stdout == ""


def test_other_input_mistakes(capsys, tiny_folder, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", bad)
    assert_one_line_error(code, err, "not UTF-8", "line 2")

    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"ok\nstill ok\n\x00\x01\x02\n")
    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", binary)
    assert_one_line_error(code, err, "NUL byte", "line 3")

    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", empty)
    assert_one_line_error(code, err, "holds no text")

    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", tmp_path / "absent.txt")
    assert_one_line_error(code, err, "absent.txt not found")

    good = tmp_path / "in.txt"
    good.write_text("hello\n")
    code, _, err = run_cli(capsys, "embed", tiny_folder, "--input", good, "--output", "x.csv")
    assert_one_line_error(code, err, "--output must end in .jsonl or .npy")

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    code, _, err = run_cli(
        capsys, "embed", tiny_folder, "--input", good, "--output", blocked / "out.npy"
    )
    assert_one_line_error(code, err, "blocked")


def test_invalid_numbers_are_usage_errors(capsys, tiny_folder):
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", str(tiny_folder), "--input", "-", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("num_hidden_layers", 1, "num_hidden_layers=1"), ("hidden_size", 64, "has shape")],
)
def test_info_refuses_a_config_that_does_not_match_its_weights(
    capsys, make_tiny_folder, field, value, named
):
    folder = make_tiny_folder("encoder")
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    code, _, err = run_cli(capsys, "info", folder)
    assert code == 2
    assert named in err and "does not match the weights" in err


def test_predict_on_a_model_without_a_task_head_points_at_the_right_command(
    make_tiny_folder, tmp_path, capsys
):
    texts = tmp_path / "texts.txt"
    texts.write_text("a film\n")
    for task, command in (("masked-lm", "bertkit fill-mask"), ("encoder", "bertkit embed")):
        code = main(["predict", str(make_tiny_folder(task)), "--input", str(texts)])
        err = capsys.readouterr().err
        assert code == 2 and command in err, err


def test_a_config_whose_labels_contradict_the_head_is_named(make_tiny_folder, tmp_path, capsys):
    import json

    folder = make_tiny_folder("sequence-classification", labels=["neg", "pos"])
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "a", "1": "b", "2": "c"}
    config["label2id"] = {"a": 0, "b": 1, "c": 2}
    (folder / "config.json").write_text(json.dumps(config))
    texts = tmp_path / "texts.txt"
    texts.write_text("a film\n")
    assert main(["predict", str(folder), "--input", str(texts)]) == 2
    err = capsys.readouterr().err
    assert "names 3 labels but the weight classifier." in err and "(needs (3" in err, err


def test_predict_refuses_another_tasks_options(make_tiny_folder, tmp_path, capsys):
    folder = make_tiny_folder("sequence-classification", labels=["neg", "pos"])
    texts = tmp_path / "texts.txt"
    texts.write_text("a film\n")
    assert main(["predict", str(folder), "--input", str(texts), "--beams", "3"]) == 2
    err = capsys.readouterr().err
    assert "--beams is an option for seq2seq models" in err and "classify model" in err, err
    assert main(["predict", str(folder), "--input", str(texts), "--all-scores"]) == 0


def test_classify_predict_no_truncate_refuses_an_over_long_text(make_tiny_folder, tmp_path, capsys):
    folder = make_tiny_folder("sequence-classification", labels=["neg", "pos"])
    texts = tmp_path / "texts.txt"
    texts.write_text("a short film\n" + "the quick brown fox " * 40 + "\n")
    assert main(["predict", str(folder), "--input", str(texts)]) == 0  # truncated by default
    capsys.readouterr()
    assert main(["predict", str(folder), "--input", str(texts), "--no-truncate"]) == 2
    err = capsys.readouterr().err
    assert "64" in err and "bertkit: error:" in err, err
