"""Real weights (all-MiniLM-L6-v2): the server's embeddings equal Hugging Face transformers',
and the ONNX / TorchScript exports equal the eager model. Run with `pytest -m slow`."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from bertkit.embeddings import SentenceEncoder
from bertkit.export import ExportedModel, export_model
from bertkit.serving import create_app

pytestmark = pytest.mark.slow

TEXTS = [
    "A man is playing a guitar on the stage.",
    "The new movie is awesome, I loved every minute of it!",
    "Zürich's Hauptbahnhof: 3 trains delayed.",
    "short",
]


def transformers_mean_pooled(folder, texts) -> np.ndarray:
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def test_served_embeddings_equal_transformers(minilm_folder):
    with TestClient(create_app(minilm_folder)) as client:
        response = client.post("/embed", json={"texts": TEXTS})
        assert response.status_code == 200, response.text
        served = np.array(response.json()["embeddings"])
        info = client.get("/info").json()
    assert info["task"] == "embed" and info["max_length"] == 512
    np.testing.assert_allclose(served, transformers_mean_pooled(minilm_folder, TEXTS), atol=1e-4)


@pytest.mark.parametrize("export_format", ["torchscript", "onnx"])
def test_exported_minilm_equals_eager(minilm_folder, tmp_path, export_format):
    if export_format == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed")
    report = export_model(minilm_folder, tmp_path / "minilm", export_format)
    assert report.verified and report.max_abs_diff <= 1e-4
    exported = ExportedModel(tmp_path / "minilm")(TEXTS)["sentence_embedding"]
    eager = SentenceEncoder.from_pretrained(minilm_folder).encode(TEXTS)
    np.testing.assert_allclose(exported, eager, atol=1e-4, rtol=0)
