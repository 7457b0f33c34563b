"""`bertkit evaluate` / `predict` pick the task from the model folder's config.json."""

import json

import pytest

from bertkit.cli.tasks import task_of_model
from bertkit.errors import BertkitError


def _folder(tmp_path, config):
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


@pytest.mark.parametrize(
    "config,task",
    [
        ({"architectures": ["BertForSequenceClassification"]}, "classify"),
        ({"architectures": ["BertForTokenClassification"]}, "ner"),
        ({"architectures": ["BertForQuestionAnswering"]}, "qa"),
        ({"architectures": ["BertModel"], "bertkit_task": "summarize"}, "summarize"),
        ({"model_type": "encoder-decoder", "bertkit_task": "seq2seq"}, "seq2seq"),
    ],
)
def test_task_comes_from_bertkit_task_or_architecture(tmp_path, config, task):
    assert task_of_model(_folder(tmp_path, config)) == task


def test_unknown_task_asks_for_task_flag(tmp_path):
    with pytest.raises(BertkitError, match="pass --task"):
        task_of_model(_folder(tmp_path, {"architectures": ["BertForNextSentencePrediction"]}))
    (tmp_path / "encoder").mkdir()
    with pytest.raises(BertkitError, match="encoder without a task head.*bertkit embed"):
        task_of_model(_folder(tmp_path / "encoder", {"architectures": ["BertModel"]}))


def test_missing_config_is_a_clear_error(tmp_path):
    with pytest.raises(BertkitError, match="config.json"):
        task_of_model(str(tmp_path))
