"""`bertkit export`: TorchScript and ONNX graphs equal the eager model on new shapes, and the
exported folder runs on its own (tokenizer and config inside)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch

from bertkit.cli import main
from bertkit.errors import BertkitError, InputError
from bertkit.export import TASK_OUTPUTS, ExportedModel, ExportError, export_model
from bertkit.inference import mean_pool
from bertkit.pretrained import load_pretrained

HAS_ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None
HAS_ONNX = importlib.util.find_spec("onnx") is not None
FORMATS = [
    "torchscript",
    pytest.param(
        "onnx",
        marks=pytest.mark.skipif(
            not (HAS_ONNX and HAS_ONNXRUNTIME),
            reason="onnx and onnxruntime are not installed (pip install onnx onnxruntime)",
        ),
    ),
]
TEXTS = ["alice lives in paris, the cat sat on the mat.", "bob", "a good film was in london"]


def eager_outputs(folder, task, texts, pairs=None) -> dict[str, np.ndarray]:
    """The task outputs computed by bertkit's own model, independently of the exporter."""
    model, tokenizer, _ = load_pretrained(folder, TASK_OUTPUTS[task][0])
    batch = tokenizer(texts, pairs, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        output = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    values = {}
    for name in TASK_OUTPUTS[task][1]:
        if name == "sentence_embedding":
            values[name] = mean_pool(output.last_hidden_state, batch["attention_mask"]).numpy()
        else:
            values[name] = getattr(output, name).numpy()
    return values


@pytest.mark.parametrize("export_format", FORMATS)
@pytest.mark.parametrize("task", ["embed", "classify", "ner", "qa", "fill-mask"])
def test_export_matches_eager_and_deploys_alone(serve_folders, tmp_path, task, export_format):
    torch.set_num_threads(1)
    out = tmp_path / "export"
    report = export_model(serve_folders[task], out, export_format)
    assert report.task == task and report.verified
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    expected_files = {"config.json", "export.json", "tokenizer.json", "vocab.txt"}
    assert expected_files | {report.model_file} <= {path.name for path in out.iterdir()}
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["outputs"].keys() == TASK_OUTPUTS[task][1].keys()

    moved = tmp_path / "elsewhere"  # no path back to the source model
    shutil.move(out, moved)
    exported = ExportedModel(moved)
    for texts, pairs in ((TEXTS, None), (TEXTS[:2], ["is it?", "who is bob, in london?"])):
        got = exported(texts, pairs)
        want = eager_outputs(serve_folders[task], task, texts, pairs)
        for name, value in want.items():
            assert got[name].shape == value.shape
            np.testing.assert_allclose(got[name], value, atol=1e-4, rtol=0)
    single = exported(["alice"])
    assert next(iter(single.values())).shape[0] == 1


def test_export_records_labels_and_config(serve_folders, tmp_path):
    report = export_model(serve_folders["ner"], tmp_path / "ner", "torchscript")
    assert report.labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    config = json.loads((tmp_path / "ner" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]


def test_failed_verification_leaves_no_folder_and_keeps_an_old_one(
    serve_folders, tmp_path, monkeypatch
):
    out = tmp_path / "export"
    out.mkdir()
    (out / "export.json").write_text("an earlier export")
    original_run = ExportedModel.run

    def drifting_run(self, *inputs):
        return {name: value + 1e-3 for name, value in original_run(self, *inputs).items()}

    monkeypatch.setattr(ExportedModel, "run", drifting_run)
    with pytest.raises(ExportError, match="differ from the eager model's by up to 1.00e-03"):
        export_model(serve_folders["classify"], out, "torchscript")
    assert [path.name for path in out.iterdir()] == ["export.json"]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".export")]


def test_export_refuses_what_it_cannot_export(serve_folders, tmp_path):
    with pytest.raises(InputError, match="format must be one of"):
        export_model(serve_folders["embed"], tmp_path / "x", "tflite")
    with pytest.raises(InputError, match="no trained classifier"):
        export_model(serve_folders["embed"], tmp_path / "x", "torchscript", task="classify")
    if serve_folders["summarize"] is not None:
        with pytest.raises(InputError, match="cannot export a 'summarize' model"):
            export_model(serve_folders["summarize"], tmp_path / "x", "torchscript")
        encoder = export_model(serve_folders["summarize"], tmp_path / "enc", "torchscript", "embed")
        assert encoder.verified and "sentence_embedding" in encoder.outputs
    with pytest.raises(BertkitError):
        export_model(tmp_path / "missing", tmp_path / "x", "torchscript")
    assert not (tmp_path / "x").exists()


def test_export_cli(serve_folders, tmp_path, capsys):
    out = tmp_path / "cli-export"
    code = main(["export", str(serve_folders["qa"]), "--format", "torchscript", "--out", str(out)])
    assert code == 0
    assert "outputs match the eager model" in capsys.readouterr().out
    assert (out / "model.torchscript.pt").is_file()
    code = main(["export", str(tmp_path / "nope"), "--format", "onnx", "--out", str(out)])
    assert code == 2
    assert "neither a folder" in capsys.readouterr().err
