"""Reading SQuAD v1.1 / v2.0 files, and the errors for malformed ones (file, line, path, id)."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.tasks.qa.generate import generate
from bertkit.tasks.qa.squad import read_squad, write_squad

V2_FILE = """{
  "version": "v2.0",
  "data": [
    {
      "title": "Zürich",
      "paragraphs": [
        {
          "context": "Zoë was born in Zürich in 1990.",
          "qas": [
            {
              "id": "q1",
              "question": "Where was Zoë born?",
              "answers": [
                {"text": "Zürich", "answer_start": 16},
                {"text": "Zürich", "answer_start": 16}
              ],
              "is_impossible": false
            },
            {
              "id": "q2",
              "question": "What is Zoë's job?",
              "answers": [],
              "plausible_answers": [{"text": "Zürich", "answer_start": 16}],
              "is_impossible": true
            }
          ]
        }
      ]
    }
  ]
}
"""


def write(tmp_path, text: str, name: str = "data.json"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_v2_file_with_unanswerable_and_plausible_answers(tmp_path):
    dataset = read_squad(write(tmp_path, V2_FILE))
    assert dataset.version == "v2.0" and dataset.has_impossible
    first, second = dataset.examples
    assert (first.id, first.question, first.title) == ("q1", "Where was Zoë born?", "Zürich")
    assert [(a.text, a.start, a.end) for a in first.answers] == [("Zürich", 16, 22)] * 2
    assert first.context[first.answers[0].start : first.answers[0].end] == "Zürich"
    assert second.is_impossible and second.answers == []


def test_reads_v1_file_without_is_impossible(tmp_path):
    data = json.loads(V2_FILE)
    qas = data["data"][0]["paragraphs"][0]["qas"]
    del qas[1]
    del qas[0]["is_impossible"]
    data["version"] = "1.1"
    dataset = read_squad(write(tmp_path, json.dumps(data)))
    assert not dataset.has_impossible and len(dataset.examples) == 1


def test_write_then_read_round_trip(tmp_path):
    examples = generate("train", 4, seed=3, unanswerable=0.3)
    write_squad(examples, tmp_path / "gen.json")
    again = read_squad(tmp_path / "gen.json").examples
    assert [(e.id, e.question, e.context, e.answers, e.is_impossible) for e in again] == [
        (e.id, e.question, e.context, e.answers, e.is_impossible) for e in examples
    ]


def test_answer_start_that_does_not_match_names_file_line_path_and_id(tmp_path):
    path = write(tmp_path, V2_FILE.replace('"answer_start": 16},\n', '"answer_start": 15},\n'))
    with pytest.raises(InputError) as error:
        read_squad(path)
    message = str(error.value)
    assert str(path) in message
    assert "line 14" in message  # the line of the offending answer object
    assert "data[0].paragraphs[0].qas[0].answers[0]" in message
    assert "'q1'" in message and "answer_start 15" in message and "occurs at 16" in message


def test_missing_answers_names_line_and_id(tmp_path):
    text = V2_FILE.replace(
        '"answers": [],\n              "plausible_answers": [{"text": "Zürich", '
        '"answer_start": 16}],\n              "is_impossible": true',
        '"answers": []',
    )
    assert text != V2_FILE
    path = write(tmp_path, text)
    with pytest.raises(InputError) as error:
        read_squad(path)
    message = str(error.value)
    assert f"{path} line 19" in message and "qas[1]" in message and "'q2'" in message
    assert "no answers" in message and "is_impossible" in message


def test_answers_key_absent(tmp_path):
    data = json.loads(V2_FILE)
    del data["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    path = write(tmp_path, json.dumps(data, indent=1))
    with pytest.raises(InputError, match=r"line \d+, at data\[0\].*'q1'.*\"answers\" is missing"):
        read_squad(path)


def test_answer_outside_context_and_non_integer_start(tmp_path):
    data = json.loads(V2_FILE)
    answers = data["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    answers[0]["answer_start"] = 40
    answers[1]["answer_start"] = "16"
    path = write(tmp_path, json.dumps(data, indent=1))
    with pytest.raises(InputError) as error:
        read_squad(path)
    message = str(error.value)
    assert message.startswith(f"2 problems in {path}")
    assert "answers[0]" in message and "outside the 31-character context" in message
    assert "answers[1]" in message and "must be an integer" in message


def test_invalid_json_names_line_and_column(tmp_path):
    path = write(tmp_path, V2_FILE.replace('"q2",', '"q2"'))
    with pytest.raises(InputError, match=rf"{path} line 21 column \d+: not valid JSON"):
        read_squad(path)


def test_duplicate_ids_and_missing_file(tmp_path):
    path = write(tmp_path, V2_FILE.replace('"id": "q2"', '"id": "q1"'))
    with pytest.raises(InputError, match="'q1' is used twice"):
        read_squad(path)
    with pytest.raises(InputError, match="not found"):
        read_squad(tmp_path / "absent.json")


def test_wrong_top_level_and_impossible_with_answers(tmp_path):
    with pytest.raises(InputError, match='"data" list'):
        read_squad(write(tmp_path, '{"version": "v2.0", "paragraphs": []}'))
    path = write(tmp_path, V2_FILE.replace('"is_impossible": false', '"is_impossible": true'))
    with pytest.raises(InputError, match='marked "is_impossible" but has answers'):
        read_squad(path)
