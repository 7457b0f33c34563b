"""Sentence splitting: boundaries, abbreviations, decimals, markup, lists and offsets."""

import pytest

from bertkit.tasks.summarization.sentences import split_sentences


def texts(text: str) -> list[str]:
    return [sentence.text for sentence in split_sentences(text)]


def test_offsets_point_back_into_the_original_text():
    text = "  First one here.\nIt wraps\n   over lines!  Third?\n\nNew paragraph.  "
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "First one here.",
        "It wraps over lines!",
        "Third?",
        "New paragraph.",
    ]
    for position, sentence in enumerate(sentences):
        assert sentence.index == position
        assert " ".join(text[sentence.start : sentence.end].split()) == sentence.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith measured 3.14 units. He left.", ["Dr. Smith measured 3.14 units.", "He left."]),
        ("Use a tuple, e.g. (1, 2). Then stop.", ["Use a tuple, e.g. (1, 2).", "Then stop."]),
        ("It helps, i.e. Python knows. Fine.", ["It helps, i.e. Python knows.", "Fine."]),
        ("Call os.path.join() here. Done.", ["Call os.path.join() here.", "Done."]),
        ("Written by J. Smith in 2020. Good.", ["Written by J. Smith in 2020.", "Good."]),
        ("Version 3.11.2 is out. Get it.", ["Version 3.11.2 is out.", "Get it."]),
        ("Lists, sets, etc. The end.", ["Lists, sets, etc.", "The end."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("Wait... and then nothing. Ok now.", ["Wait... and then nothing.", "Ok now."]),
        ("Value (see Fig. 3) is large. Yes.", ["Value (see Fig. 3) is large.", "Yes."]),
    ],
)
def test_abbreviations_decimals_and_quotes(text, expected):
    assert texts(text) == expected


def test_rest_markup_and_code_produce_no_sentences():
    text = """Installing
==========

.. note::
   :class: tip

   This note is prose. It stays.

.. code-block:: python

   x = 1. Not a sentence at all
   print(x)

For example::

    >>> 1 + 1
    2

+------+------+
| a    | b    |
+------+------+

>>> import os
Back to prose here.
"""
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "Installing",
        "This note is prose.",
        "It stays.",
        "For example::",
        "Back to prose here.",
    ]
    assert sentences[0].kind == "heading"


def test_bullets_and_numbered_items_are_separate_sentences():
    text = (
        "Steps:\n\n* first step without a period\n* second step. Two parts.\n"
        "1. numbered one\n2) numbered two\n"
    )
    sentences = split_sentences(text)
    items = [s for s in sentences if s.kind == "item"]
    assert [s.text for s in items] == [
        "first step without a period",
        "second step.",
        "Two parts.",
        "numbered one",
        "numbered two",
    ]
    assert all(not s.text.startswith(("*", "1.", "2)")) for s in items)


def test_markdown_headings_and_fences():
    text = "# Title of the page\n\nSome text here.\n\n```\ncode. Code.\n```\n\nMore text."
    sentences = split_sentences(text)
    assert [(s.kind, s.text) for s in sentences] == [
        ("heading", "Title of the page"),
        ("sentence", "Some text here."),
        ("sentence", "More text."),
    ]


def test_empty_and_punctuation_only_text():
    assert split_sentences("") == []
    assert split_sentences("   \n\n ---- \n") == []
