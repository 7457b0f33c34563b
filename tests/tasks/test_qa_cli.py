"""End to end on a tiny model: `bertkit finetune qa`, `evaluate`, `predict`, the Python API,
and clear one-line errors for malformed files."""

from __future__ import annotations

import json
import random

import pytest
import torch

from bertkit.cli import main
from bertkit.tasks.qa.predict import QuestionAnswerer
from bertkit.tasks.qa.squad import Answer, QAExample, write_squad

FILLER = "the quick brown movie was very good and new. "


def tiny_squad(path, count: int = 8, seed: int = 0) -> list[QAExample]:
    """Two animals in two places per context; the question asks for one of them."""
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        first, second = rng.sample(["paris", "london", "york"], 2)
        context = FILLER * (index % 3) + f"the fox is in {first} and the dog is in {second}. "
        context += FILLER
        animal = rng.choice(["fox", "dog"])
        prefix = f"the {animal} is in "
        start = context.index(prefix) + len(prefix)
        answer = first if animal == "fox" else second
        examples.append(
            QAExample(f"q{index}", f"where is the {animal}?", context, [Answer(answer, start)])
        )
    examples.append(QAExample("none", "where is the bert?", examples[0].context, [], True))
    write_squad(examples, path)
    return examples


WINDOW_ARGS = ["--max-length", "48", "--doc-stride", "8", "--max-question-length", "12"]


@pytest.fixture(scope="module")
def trained(make_tiny_folder, tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("qa-cli")
    start = make_tiny_folder("question-answering", seed=1)
    train = root / "train.json"
    tiny_squad(train)
    out = root / "model"
    code = main(
        ["finetune", "qa", "--model", str(start), "--train", str(train), "--eval", str(train),
         "--out", str(out), *WINDOW_ARGS, "--max-steps", "80", "--num-epochs", "1000",
         "--batch-size", "8", "--lr", "3e-3", "--warmup-ratio", "0", "--eval-every", "40",
         "--precision", "fp32", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    return {"start": start, "train": train, "out": out, "root": root}


def evaluate(model, data, output, capsys) -> dict:
    assert main(["evaluate", str(model), "--data", str(data), "--output", str(output)]) == 0
    capsys.readouterr()
    return json.loads(output.read_text())


def test_finetune_learns_and_saves_a_complete_folder(trained, capsys):
    out = trained["out"]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    assert config["bertkit_task"] == "qa"
    settings = config["bertkit_qa"]
    assert settings["max_length"] == 48 and settings["doc_stride"] == 8
    assert settings["allow_no_answer"] is True  # the file has an unanswerable question
    assert (out / "tokenizer.json").is_file()
    saved = json.loads((out / "eval_results.json").read_text())

    before = evaluate(trained["start"], trained["train"], trained["root"] / "r0.json", capsys)
    after = evaluate(out, trained["train"], trained["root"] / "r1.json", capsys)
    assert after["exact"] == pytest.approx(saved["exact"])
    assert after["exact"] >= 75.0 and after["exact"] > before["exact"] + 25
    assert after["total"] == 9 and "HasAns_f1" in after and "best_f1_thresh" in after


def test_predict_jsonl_and_python_api_return_exact_substrings(trained, tmp_path, capsys):
    context = "Zoë and São Paulo 😀: the fox is in london and the dog is in paris. " + FILLER
    lines = [
        {"id": "a", "question": "where is the dog?", "context": context},
        {"question": "where is the fox?", "context": FILLER * 3 + context},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    assert main(["predict", str(trained["out"]), "--input", str(source), "--output",
                 str(target), "--show-n-best"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [row.get("id") for row in rows] == ["a", None] and rows[1]["line"] == 2
    for line, row in zip(lines, rows, strict=True):
        if not row["no_answer"]:
            assert line["context"][row["start"] : row["end"]] == row["answer"]
        for candidate in row["n_best"]:
            assert line["context"][candidate["start"] : candidate["end"]] == candidate["answer"]

    answerer = QuestionAnswerer.from_pretrained(trained["out"], device="cpu")
    assert answerer.settings.doc_stride == 8
    predictions = answerer.predict_batch([line["question"] for line in lines],
                                         [line["context"] for line in lines])  # fmt: skip
    assert [p.answer for p in predictions] == [row["answer"] for row in rows]
    single = answerer.predict("where is the dog?", context)
    assert single.answer == predictions[0].answer
    forced = QuestionAnswerer.from_pretrained(trained["out"], device="cpu", null_threshold=1e9)
    answer = forced.predict("where is the bert?", context)
    assert answer.answer and context[answer.start : answer.end] == answer.answer


def test_malformed_files_give_one_line_errors(trained, tmp_path, capsys):
    bad = json.loads(trained["train"].read_text())
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, indent=1), encoding="utf-8")
    assert main(["evaluate", str(trained["out"]), "--data", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("bertkit: error:") and len(error.splitlines()) == 1
    assert f"{path} line " in error and "answers[0]" in error and "'q0'" in error

    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"question": "where?", "context": "here"}\n{"question": "why?"}\n')
    assert main(["predict", str(trained["out"]), "--input", str(jsonl)]) == 2
    assert f'{jsonl} line 2: "context" is missing' in capsys.readouterr().err

    assert main(["finetune", "qa", "--model", str(trained["start"]), "--train", str(path),
                 "--out", str(tmp_path / "x"), "--max-steps", "1"]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert f"{path} line " in error and "answer_start" in error and "points at" in error


class _TrainerBuilt(Exception):
    """Raised by the recording Trainer below to stop a fine-tuning run before it trains."""


@pytest.mark.parametrize("grouping", [True, False])
def test_training_windows_are_length_grouped_by_the_trainer(
    make_tiny_folder, tmp_path, monkeypatch, caplog, grouping
):
    from bertkit.tasks.qa import train as train_module

    seen = {}

    class RecordingTrainer(train_module.Trainer):
        def __init__(self, model, config, dataset, **kwargs):
            seen.update(kwargs, dataset=dataset, batch_size=config.batch_size)
            raise _TrainerBuilt

    monkeypatch.setattr(train_module, "Trainer", RecordingTrainer)
    train = tmp_path / "train.json"
    tiny_squad(train, count=12)
    args = ["finetune", "qa", "--model", str(make_tiny_folder("encoder")),
            "--train", str(train), "--out", str(tmp_path / "m"), *WINDOW_ARGS,
            "--batch-size", "4", "--no-progress"]  # fmt: skip
    caplog.set_level("INFO", logger="bertkit.checkpoint")
    with pytest.raises(_TrainerBuilt):
        main(args + ([] if grouping else ["--no-length-grouping"]))
    new_head = [record for record in caplog.records if "no trained span_head" in record.message]
    assert [record.levelname for record in new_head] == ["INFO"]  # expected when fine-tuning
    assert seen["batch_size"] == 4
    if not grouping:
        assert seen["example_lengths"] is None
        return
    dataset, lengths = seen["dataset"], seen["example_lengths"]
    assert lengths == [len(dataset[i]["input_ids"]) for i in range(len(dataset))]
    assert len(set(lengths)) > 1  # contexts of three sizes: windows of several lengths
    batch = seen["collate_fn"]([dataset[i] for i in range(len(dataset))])
    assert batch["input_ids"].shape == (len(dataset), max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
