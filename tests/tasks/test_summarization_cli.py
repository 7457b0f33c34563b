"""The summarization CLI end to end on a tiny model: summarize, finetune, evaluate, predict."""

import json

import pytest
import torch

from bertkit.cli import main

DOCUMENTS = [
    {
        "document": "The quick brown fox jumps over the lazy dog. A lazy dog was not very good. "
        "Paris and London are a new play. The world is a city of the fox.",
        "summary": "The quick brown fox jumps over the lazy dog.",
    },
    {
        "document": "Hello world, the bert model is good. It was a bad movie in the city. "
        "New York city is a city of the world. The token model was not good.",
        "summary": "The bert model is good. The token model was not good.",
    },
]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS), encoding="utf-8")
    return path


def test_summarize_plain_text_prints_document_sentences(tiny_folder, tmp_path, capsys):
    text = DOCUMENTS[0]["document"]
    (tmp_path / "doc.txt").write_text(text, encoding="utf-8")
    assert (
        main(
            [
                "summarize",
                str(tiny_folder),
                "--input",
                str(tmp_path / "doc.txt"),
                "--sentences",
                "2",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line in text for line in lines)
    assert text.index(lines[0]) < text.index(lines[1])

    assert (
        main(
            [
                "summarize",
                str(tiny_folder),
                "--input",
                str(tmp_path / "doc.txt"),
                "--ratio",
                "0.5",
                "--json",
                "--method",
                "lead",
            ]
        )
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert [s["index"] for s in record["sentences"]] == [0, 1]
    assert record["method"] == "lead"


def test_bad_input_exits_2_with_one_line(tiny_folder, tmp_path, capsys):
    (tmp_path / "latin1.txt").write_bytes("Un caf\xe9 tr\xe8s bon.".encode("latin-1"))
    assert main(["summarize", str(tiny_folder), "--input", str(tmp_path / "latin1.txt")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    assert main(["summarize", str(tiny_folder), "--input", str(tmp_path / "empty.txt")]) == 2
    assert "empty" in capsys.readouterr().err
    code = main(
        [
            "summarize",
            str(tiny_folder),
            "--input",
            str(tmp_path / "empty.txt"),
            "--method",
            "supervised",
        ]
    )
    assert code == 2


def test_predict_jsonl_keeps_going_past_an_empty_document(tiny_folder, tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    rows = [{"text": DOCUMENTS[0]["document"]}, {"text": "   "}, {"text": "One sentence only."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "predict",
                str(tiny_folder),
                "--task",
                "summarize",
                "--input",
                str(path),
                "--output",
                str(out),
                "--sentences",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert len(records[0]["sentences"]) == 2
    assert records[1]["sentences"] == [] and "empty" in records[1]["error"]
    assert records[2]["summary"] == "One sentence only."


def test_finetune_then_evaluate_and_predict_with_the_model(
    tiny_folder, data_file, tmp_path, capsys
):
    out = tmp_path / "summarizer"
    code = main(
        [
            "finetune",
            "summarize",
            "--model",
            str(tiny_folder),
            "--train",
            str(data_file),
            "--dev",
            str(data_file),
            "--out",
            str(out),
            "--max-length",
            "64",
            "--max-sentence-tokens",
            "12",
            "--max-steps",
            "3",
            "--batch-size",
            "2",
            "--no-progress",
            "--precision",
            "fp32",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "dev rouge1" in printed and (out / "summarization_head.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["bertkit_task"] == "summarize"

    report_file = tmp_path / "report.json"
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--data",
                str(data_file),
                "--baselines",
                "--json",
                "--sentences",
                "1",
                "--output",
                str(report_file),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert set(report["methods"]) == {"supervised", "centrality", "lead"}
    for scores in report["methods"].values():
        assert 0 <= scores["rouge2"] <= scores["rouge1"] <= 100
    # lead-1 of the first document is exactly its reference.
    assert report["methods"]["lead"]["rouge1"] > 50
    assert json.loads(report_file.read_text()) == report

    assert (
        main(["predict", str(out), "--input", str(data_file), "--sentences", "2", "--no-progress"])
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["method"] for r in records] == ["supervised", "supervised"]
    for record, document in zip(records, DOCUMENTS, strict=True):
        for sentence in record["sentences"]:
            assert document["document"][sentence["start"] : sentence["end"]] == sentence["text"]


def test_finetune_rejects_data_without_summaries(tiny_folder, tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"document": "A b c d. E f g h."}) + "\n", encoding="utf-8")
    code = main(
        [
            "finetune",
            "summarize",
            "--model",
            str(tiny_folder),
            "--train",
            str(path),
            "--out",
            str(tmp_path / "m"),
            "--max-steps",
            "1",
        ]
    )
    assert code == 2
    assert "bad.jsonl:1: no reference summary" in capsys.readouterr().err
