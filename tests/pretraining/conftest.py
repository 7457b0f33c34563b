"""Fixtures of the pretraining tests: a small corpus and a vocabulary learnt from it."""

from pathlib import Path

import pytest
from pretrain_data import tiny_tokenizer, write_corpus


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, corpus_file) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer(corpus_file, folder)
    return folder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Token caches and fetched data go to a per-test folder, never the user's cache."""
    monkeypatch.setenv("BERTKIT_CACHE", str(tmp_path / "bertkit-cache"))
