"""A weakly supervised summarization set from the Python documentation's plain-text sources.

No registry package ships a summarization corpus, so for measurements we build one whose
references are written by people, if not as summaries: in the Python docs a section usually
opens with a paragraph that introduces what the section goes on to explain. Each section whose
body is long enough becomes one example:

    reference = the section's first paragraph (1 to 4 sentences)
    document  = the rest of the section (at least `min_sentences` candidate sentences)

The opening paragraph is removed from the document, so lead-k cannot simply copy it; it
remains a strong baseline because the next sentences often continue the introduction. This is
a weak reference (an introduction is not a summary) and the scores are only comparable between
methods measured on the same set.

Sections are found in the plain-text corpus (one `.rst` source after another, markup removed)
as a short, unpunctuated line after two or more blank lines. Section number i (from 0) goes to
test if i % 10 == 0, to dev if i % 10 == 1, else to train.

    python -m bertkit.tasks.summarization.pydocs CORPUS.txt[.gz] OUT_DIR
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bertkit.io_utils import atomic_write_file
from bertkit.tasks.summarization.selection import candidate_sentences
from bertkit.tasks.summarization.sentences import split_sentences

_HEADING = re.compile(r"(?:\A|\n\n\n+)([^\s][^\n]{0,78})\n\n")


@dataclass
class Section:
    title: str
    body: str  # text after the heading, up to the next heading


def read_corpus(path: str | Path) -> str:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read()


def sections(text: str) -> list[Section]:
    """Split the corpus at heading lines (see the module docstring)."""
    headings = [
        match
        for match in _HEADING.finditer(text)
        if len(match.group(1).split()) <= 12 and match.group(1).rstrip()[-1] not in ".:;,!?"
    ]
    found = []
    for match, following in zip(headings, headings[1:] + [None], strict=True):
        end = following.start() if following is not None else len(text)
        found.append(Section(match.group(1).strip(), text[match.end() : end]))
    return found


def example(section: Section, min_sentences: int = 8, max_words: int = 3000) -> dict | None:
    """The (document, summary) pair of a section, or None when it does not qualify."""
    paragraphs = re.split(r"\n\s*\n", section.body.strip(), maxsplit=1)
    if len(paragraphs) < 2:
        return None
    opening, rest = paragraphs
    reference = [s.text for s in split_sentences(opening) if s.kind != "heading"]
    if not 1 <= len(reference) <= 4 or len(" ".join(reference).split()) < 12:
        return None
    if len(rest.split()) > max_words:
        rest = " ".join(rest.split(" ")[:max_words])
    if len(candidate_sentences(split_sentences(rest))) < min_sentences:
        return None
    return {"title": section.title, "document": rest, "summary": "\n".join(reference)}


def build(corpus: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write train/dev/test JSONL files into `out_dir`; return how many examples each has."""
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    index = 0
    for section in sections(read_corpus(corpus)):
        pair = example(section)
        if pair is None:
            continue
        split = "test" if index % 10 == 0 else "dev" if index % 10 == 1 else "train"
        splits[split].append(pair)
        index += 1
    out_dir = Path(out_dir)
    for split, rows in splits.items():
        with atomic_write_file(out_dir / f"{split}.jsonl", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {split: len(rows) for split, rows in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", help="python-docs.txt or python-docs.txt.gz")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    counts = build(args.corpus, args.out_dir)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
