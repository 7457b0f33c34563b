"""End to end on a tiny random BERT: finetune ner, evaluate, predict, and bad input via the CLI."""

from __future__ import annotations

import json
import random

import pytest
import torch

from bertkit.cli import main
from bertkit.tasks.ner import EntityTagger

PEOPLE = [["bert"], ["alice"], ["bob", "smith"]]
PLACES = [["paris"], ["london"], ["new", "york", "city"]]
TEMPLATES = [
    "{per} was in {loc} .",
    "the dog of {per} is very good",
    "{loc} is not a bad city , {per} !",
    "it was a new movie",
]


def make_sentences(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        words, tags = [], []
        for part in rng.choice(TEMPLATES).split():
            if part in ("{per}", "{loc}"):
                name = rng.choice(PEOPLE if part == "{per}" else PLACES)
                kind = "PER" if part == "{per}" else "LOC"
                words += name
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            else:
                words.append(part)
                tags.append("O")
        sentences.append((words, tags))
    return sentences


def write_conll(path, sentences) -> None:
    blocks = ["".join(f"{w}\t{t}\n" for w, t in zip(*s, strict=True)) for s in sentences]
    path.write_text("-DOCSTART-\tO\n\n" + "\n".join(blocks), encoding="utf-8")


def write_jsonl(path, sentences) -> None:
    lines = [json.dumps({"tokens": words, "tags": tags}) for words, tags in sentences]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def trained(make_tiny_folder, tmp_path_factory):
    """A tiny model fine-tuned on templated sentences: (run folder, data folder)."""
    torch.set_num_threads(1)
    data = tmp_path_factory.mktemp("ner-data")
    write_conll(data / "train.conll", make_sentences(160, seed=1))
    write_jsonl(data / "dev.jsonl", make_sentences(30, seed=2))
    base = make_tiny_folder("encoder")
    run = tmp_path_factory.mktemp("ner-run") / "run"
    code = main(
        [
            "finetune", "ner", "--model", str(base), "--train", str(data / "train.conll"),
            "--dev", str(data / "dev.jsonl"), "--output-dir", str(run), "--max-length", "12",
            "--window-overlap", "4", "--num-epochs", "12", "--batch-size", "16",
            "--learning-rate", "3e-3", "--warmup-ratio", "0", "--no-progress", "--seed", "3",
        ]
    )  # fmt: skip
    assert code == 0
    return run, data


def test_finetune_writes_a_model_that_learned_the_entities(trained, capsys):
    run, data = trained
    model_dir = run / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert config["bertkit_task"] == "ner"
    assert sorted(config["label2id"]) == ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    assert (model_dir / "tokenizer.json").is_file()
    assert (run / "best" / "model" / "model.safetensors").is_file()

    test = data / "test.conll"
    write_conll(test, make_sentences(40, seed=5))
    assert main(["evaluate", str(model_dir), "--data", str(test), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["f1"] > 0.9, report
    assert set(report["per_type"]) == {"PER", "LOC"}


def test_evaluate_with_short_windows_still_scores(trained, capsys):
    run, data = trained
    test = data / "long.conll"
    parts = make_sentences(60, seed=9)
    # Three templated sentences glued together exceed max_length 12 and need windows.
    glued = [
        (a[0] + b[0] + c[0], a[1] + b[1] + c[1])
        for a, b, c in zip(parts[0::3], parts[1::3], parts[2::3], strict=True)
    ]
    write_conll(test, glued)
    assert main(["evaluate", str(run / "model"), "--data", str(test), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["f1"] > 0.8, report


def test_predict_entities_with_character_offsets(trained, tmp_path, capsys):
    run, _ = trained
    texts = [
        "Bob Smith was in New York City.",
        "The dog of Alice is very good",
        "it was a new movie",
    ]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        "\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts))
        + "\n"
        + json.dumps({"id": 3, "tokens": ["bert", "was", "in", "paris"]})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(run / "model"), "--input", str(inputs), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == [0, 1, 2, 3]
    for row in rows:
        for entity in row["entities"]:
            assert row["text"][entity["start"] : entity["end"]] == entity["text"]
    found = {(e["type"], e["text"]) for e in rows[0]["entities"]}
    assert found == {("PER", "Bob Smith"), ("LOC", "New York City")}
    assert [(e["type"], e["text"]) for e in rows[1]["entities"]] == [("PER", "Alice")]
    assert rows[2]["entities"] == []
    assert {(e["type"], e["text"]) for e in rows[3]["entities"]} == {
        ("PER", "bert"),
        ("LOC", "paris"),
    }


def test_python_api_predict_and_plain_text_cli(trained, tmp_path, capsys):
    run, _ = trained
    tagger = EntityTagger.from_pretrained(run / "model")
    text = "  Paris  is not a bad city , Bert !"
    entities = tagger.predict(text)
    assert [(e.type, e.text, e.start, e.end) for e in entities] == [
        ("LOC", "Paris", 2, 7),
        ("PER", "Bert", 29, 33),
    ]
    plain = tmp_path / "in.txt"
    plain.write_text(text + "\n", encoding="utf-8")
    assert main(["predict", str(run / "model"), "--input", str(plain)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert [e["text"] for e in row["entities"]] == ["Paris", "Bert"]


def test_bad_input_errors_name_file_and_line(trained, tmp_path, capsys, make_tiny_folder):
    run, data = trained
    no_tag = tmp_path / "no_tag.conll"
    no_tag.write_text("bert\tB-PER\nwas\n", encoding="utf-8")
    assert main(["evaluate", str(run / "model"), "--data", str(no_tag)]) == 2
    assert "no_tag.conll:2:" in capsys.readouterr().err

    unknown = tmp_path / "unknown.conll"
    unknown.write_text("bert\tB-PER\n\nparis\tB-GPE\n", encoding="utf-8")
    assert main(["evaluate", str(run / "model"), "--data", str(unknown)]) == 2
    error = capsys.readouterr().err
    assert "unknown.conll:3:" in error and "'B-GPE'" in error and "label set" in error

    assert (
        main(
            [
                "finetune",
                "ner",
                "--model",
                str(make_tiny_folder("encoder")),
                "--train",
                str(no_tag),
                "--output-dir",
                str(tmp_path / "x"),
                "--max-steps",
                "1",
            ]
        )  # fmt: skip
        == 2
    )
    assert "no_tag.conll:2:" in capsys.readouterr().err

    assert main(["evaluate", str(make_tiny_folder("encoder")), "--task", "ner", "--data",
                 str(data / "train.conll")]) == 2  # fmt: skip
    assert "not a token-classification model" in capsys.readouterr().err


def test_out_names_the_model_folder_and_user_files_are_refused(
    trained, tmp_path, capsys, make_tiny_folder
):
    _, data = trained
    base = make_tiny_folder("encoder")
    common = [
        "finetune", "ner", "--model", str(base), "--train", str(data / "train.conll"),
        "--max-length", "12", "--max-steps", "2", "--batch-size", "8", "--no-progress",
        "--output-dir", str(tmp_path / "run"),
    ]  # fmt: skip
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main([*common, "--out", str(precious)]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "run").exists()  # refused before any training

    assert main([*common, "--out", str(tmp_path / "tagger")]) == 0
    assert str(tmp_path / "tagger") in capsys.readouterr().out
    config = json.loads((tmp_path / "tagger" / "config.json").read_text())
    assert config["bertkit_task"] == "ner"
    assert not (tmp_path / "run" / "model").exists()


def test_eval_is_accepted_for_the_dev_file_as_in_the_other_tasks():
    from bertkit.cli import build_parser

    args = build_parser().parse_args(["finetune", "ner", "--train", "t.conll", "--eval", "d.conll"])
    assert args.dev == "d.conll"
