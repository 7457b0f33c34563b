"""Extractive summarization: unsupervised (centrality + MMR) and supervised (BertSum-style).

Python API: `Summarizer.from_pretrained("minilm").summarize(text, num_sentences=3)` returns a
`Summary` whose `.text` is the summary and `.sentences` the chosen sentences with offsets.
"""

from bertkit.tasks.summarization.oracle import greedy_oracle
from bertkit.tasks.summarization.rouge import rouge_scores
from bertkit.tasks.summarization.selection import Summary
from bertkit.tasks.summarization.sentences import Sentence, split_sentences
from bertkit.tasks.summarization.summarizer import METHODS, Summarizer

__all__ = [
    "METHODS",
    "Sentence",
    "Summarizer",
    "Summary",
    "greedy_oracle",
    "rouge_scores",
    "split_sentences",
]
