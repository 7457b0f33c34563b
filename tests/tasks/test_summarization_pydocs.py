"""The weak-reference dataset built from documentation text: sections, references, splits."""

import json

from bertkit.tasks.summarization.pydocs import build, example, sections

BODY = " ".join(f"Sentence {i} explains one more detail of the module." for i in range(10))
CORPUS = (
    "First Title\n\n\n"
    "The opening paragraph introduces the module. It says what it is for.\n\n"
    f"{BODY}\n\n\n"
    "Too Short Section\n\n"
    "Only an opening paragraph here.\n\n\n"
    "Third Title\n\n"
    "Another opening paragraph that introduces the topic of this section quite well.\n\n"
    f"{BODY}\n"
)


def test_sections_split_at_unpunctuated_headings():
    found = sections(CORPUS)
    assert [s.title for s in found] == ["First Title", "Too Short Section", "Third Title"]
    assert found[0].body.lstrip().startswith("The opening paragraph")


def test_example_takes_the_opening_paragraph_as_reference(tmp_path):
    pair = example(sections(CORPUS)[0])
    assert pair["summary"] == (
        "The opening paragraph introduces the module.\nIt says what it is for."
    )
    assert "opening paragraph" not in pair["document"]
    assert example(sections(CORPUS)[1]) is None  # no body beyond the opening
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    counts = build(corpus, tmp_path / "out")
    assert counts == {"train": 0, "dev": 1, "test": 1}  # example 0 -> test, 1 -> dev
    row = json.loads((tmp_path / "out" / "test.jsonl").read_text())
    assert row["title"] == "First Title"
